"""Print the README's headline block from the committed benchmark results.

Reads ``reports/ucm/results.json`` (paper protocol) and ``reports/ucm-unseen/results.json``
(unseen scenes) and prints two tables:

* mAP: one row per fine-tuned method (the plain method names), one column per protocol and
  code length; each cell is the tie-aware mAP@all (the ``map`` field), mean ± sample
  standard deviation (ddof = 1) over seeds.
* verdicts: MLRSIR-NET against each baseline, per protocol and code length, by the interval
  rule of the reports (paired bootstrap over queries, ``mlrsir.report.stats.compare_methods``,
  10,000 resamples, seed 0): **win** when the 95 % interval of the mAP difference is above 0,
  loss when below, ``=`` when it contains 0.

Run from the repository root: ``python docs/scripts/headline_table.py``; the README holds
its output between the ``headline:start`` and ``headline:end`` markers, and a test checks
that it is the output (``tests/report/test_readme_headline.py``): the verdicts are never
edited by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlrsir.report.stats import compare_methods
from mlrsir.report.tables import MISSING, format_stat, summarize

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = (("paper", Path("reports/ucm/results.json")), ("unseen", Path("reports/ucm-unseen/results.json")))
METHODS = (("mlrsir", "**MLRSIR-NET**"), ("dhn", "DHN"), ("dch", "DCH"), ("dqn", "DQN"), ("dtq", "DTQ"))
VERDICT_CELL = {"win": "**win**", "loss": "loss", "not separated": "="}


def load_runs(root: Path = ROOT) -> dict[str, list[dict]]:
    return {name: json.loads((root / path).read_text()) for name, path in PROTOCOLS}


def headline(root: Path = ROOT) -> str:
    """The README's headline block (mAP table, blank line, verdict table) as text."""
    runs = load_runs(root)
    bits = sorted({run["bits"] for rows in runs.values() for run in rows})
    header = [f"{name} {b}" for name, _ in PROTOCOLS for b in bits]
    lines = ["| method | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for method, label in METHODS:
        cells = []
        for name, _ in PROTOCOLS:
            for b in bits:
                values = [r["map"] for r in runs[name] if r["method"] == method and r["bits"] == b]
                cells.append(format_stat(summarize(values)))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    verdicts = {
        name: {
            (c["baseline"], c["bits"]): c["verdict"]
            for c in compare_methods([r for r in rows if r["method"] in dict(METHODS)])
        }
        for name, rows in runs.items()
    }
    lines += ["", "| MLRSIR-NET against | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for method, label in METHODS[1:]:
        cells = [VERDICT_CELL.get(verdicts[name].get((method, b), ""), MISSING) for name, _ in PROTOCOLS for b in bits]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(headline())
