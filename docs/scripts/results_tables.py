"""Print the tables of docs/results.md from the committed benchmark results.

Reads ``reports/ucm/results.json`` (paper protocol) and ``reports/ucm-unseen/results.json``
(unseen scenes). For each protocol, three tables, one row per method (fine-tuned, then
frozen), one column per code length:

* ``map``: tie-aware mAP@all, mean ± sample std (ddof = 1) over seeds, ``(n=seeds)``;
* ``delta``: fine-tuned MLRSIR-NET minus each row, paired bootstrap over queries
  (``mlrsir.report.stats.compare_methods``: 10,000 resamples, seed 0, 95 % percentile
  interval), with the verdict of the interval rule (win / **loss** / not sep.);
* ``ndcg``: NDCG@100 (stable sort), mean ± std over seeds.

docs/results.md holds each table between ``<!-- results:NAME:PROTOCOL -->`` and
``<!-- /results -->`` markers; ``python docs/scripts/results_tables.py --write`` rewrites
them in place, and ``tests/report/test_readme_headline.py`` checks that they are current.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mlrsir.report.stats import compare_methods
from mlrsir.report.tables import MISSING, format_stat, summarize

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = {"paper": Path("reports/ucm/results.json"), "unseen": Path("reports/ucm-unseen/results.json")}
DOC = Path("docs/results.md")
TITLES = {"mlrsir": "MLRSIR-NET", "dhn": "DHN", "dtq": "DTQ", "dqn": "DQN", "dch": "DCH"}
ORDER = [*TITLES, *(f"{m}:none" for m in TITLES)]
VERDICTS = {"win": "win", "loss": "**loss**", "not separated": "not sep."}
MARKER = re.compile(r"(<!-- results:(\w+):(\w+) -->\n)(.*?)(<!-- /results -->)", re.S)


def label(method: str) -> str:
    name, _, regime = method.partition(":")
    if name == "mlrsir" and not regime:
        return "MLRSIR-NET, top stage fine-tuned (default)"
    return f"{TITLES[name]}, {'frozen' if regime == 'none' else 'fine-tuned'}"


def _table(first: str, bits: list[int], body: list[list[str]], numeric: bool) -> str:
    align = "---:|" if numeric else "---|"
    lines = [f"| {first} | " + " | ".join(f"{b} bits" for b in bits) + " |", "|---|" + align * len(bits)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def tables(root: Path = ROOT) -> dict[tuple[str, str], str]:
    """``{(table name, protocol): markdown}`` for every table of docs/results.md."""
    out = {}
    for protocol, path in PROTOCOLS.items():
        rows = json.loads((root / path).read_text())
        bits = sorted({int(r["bits"]) for r in rows})
        methods = [m for m in ORDER if any(r["method"] == m for r in rows)]

        def values(method: str, b: int, key: str, rows=rows) -> list[float]:
            return [r[key] for r in rows if r["method"] == method and r["bits"] == b and r.get(key) is not None]

        for name, key in (("map", "map"), ("ndcg", "ndcg_at_100")):
            body = [
                [label(m), *(format_stat(summarize(values(m, b, key)), show_n=True) for b in bits)] for m in methods
            ]
            out[(name, protocol)] = _table("method", bits, body, numeric=True)
        compared = {(c["baseline"], c["bits"]): c for c in compare_methods(rows)}
        body = []
        for m in methods[1:]:
            cells = []
            for b in bits:
                c = compared.get((m, b))
                cells.append(
                    f"{c['mean']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] "
                    f"{VERDICTS[c['verdict']]} (n={c['num_seeds']})"
                    if c
                    else MISSING
                )
            body.append([label(m), *cells])
        out[("delta", protocol)] = _table("against", bits, body, numeric=False)
    return out


def rewrite(text: str, generated: dict[tuple[str, str], str]) -> str:
    """``text`` with every marked table replaced by its generated version."""
    return MARKER.sub(lambda m: m.group(1) + generated[(m.group(2), m.group(3))] + "\n" + m.group(5), text)


if __name__ == "__main__":
    generated = tables()
    if "--write" in sys.argv[1:]:
        doc = ROOT / DOC
        doc.write_text(rewrite(doc.read_text(encoding="utf-8"), generated), encoding="utf-8")
        print(f"rewrote {len(MARKER.findall(doc.read_text(encoding='utf-8')))} tables in {DOC}")
    else:
        for (name, protocol), table in generated.items():
            print(f"<!-- results:{name}:{protocol} -->\n{table}\n<!-- /results -->\n")
