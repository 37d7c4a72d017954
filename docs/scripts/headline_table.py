"""Print the README's headline table from the committed benchmark results.

Reads ``reports/ucm/results.json`` (paper protocol) and ``reports/ucm-unseen/results.json``
(unseen scenes): one row per fine-tuned method (the plain method names), one column per
protocol and code length; each cell is the tie-aware mAP@all (the ``map`` field), mean ± sample
standard deviation (ddof = 1) over seeds. Run from the repository root:
``python docs/scripts/headline_table.py``; paste its output into README.md.
"""

import json
import statistics
from pathlib import Path

PROTOCOLS = (("paper", Path("reports/ucm/results.json")), ("unseen", Path("reports/ucm-unseen/results.json")))
METHODS = (("mlrsir", "**MLRSIR-NET**"), ("dhn", "DHN"), ("dch", "DCH"), ("dqn", "DQN"), ("dtq", "DTQ"))


def cell(values: list[float]) -> str:
    if len(values) > 1:
        return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
    return f"{values[0]:.4f} (n=1)"


def main() -> None:
    runs = {name: json.loads(path.read_text()) for name, path in PROTOCOLS}
    bits = sorted({run["bits"] for rows in runs.values() for run in rows})
    header = [f"{name} {b}" for name, _ in PROTOCOLS for b in bits]
    print("| method | " + " | ".join(header) + " |")
    print("|---|" + "---:|" * len(header))
    for method, label in METHODS:
        cells = []
        for name, _ in PROTOCOLS:
            for b in bits:
                values = [r["map"] for r in runs[name] if r["method"] == method and r["bits"] == b]
                cells.append(cell(values) if values else "—")
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
