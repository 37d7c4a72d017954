"""How much each method moved between two benchmark reports of the same protocol and seeds.

Usage (from the repository root)::

    python docs/scripts/budget_shift.py BEFORE/results.json AFTER/results.json

For every (method, bits) present in both files: the mean tie-aware mAP@all over seeds in
each, and AFTER minus BEFORE paired by seed and query (each seed draws its own split in both
reports, so the queries are the same), with the 95 % paired-bootstrap interval and verdict of
``mlrsir.report.stats.compare_methods`` (10,000 resamples, seed 0). Written for issue 29:
the validated training budgets against the 500 x 64 budget of the first reports.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from mlrsir.report.stats import compare_methods


def budget(rows: list[dict]) -> str:
    budgets = sorted({f"{r['iterations']}x{r['batch_size']}" for r in rows if "iterations" in r})
    return ", ".join(budgets) or "500x64 (not recorded in the rows)"


def shift_table(before: list[dict], after: list[dict]) -> str:
    keys = sorted({(r["method"], r["bits"]) for r in before} & {(r["method"], r["bits"]) for r in after})
    lines = [
        "| method | bits | seeds | mAP before | budget before | mAP after | budget after "
        "| after − before | 95 % interval | verdict |",
        "|---|---:|---:|---:|---|---:|---|---:|---|---|",
    ]
    for method, bits in keys:
        b = [r for r in before if (r["method"], r["bits"]) == (method, bits)]
        a = [r for r in after if (r["method"], r["bits"]) == (method, bits)]
        rows = [dict(r, method="before") for r in b] + [dict(r, method="after") for r in a]
        (c,) = compare_methods(rows, ours="after", baselines=["before"]) or [None]
        if c is None:
            continue
        lines.append(
            f"| {method} | {bits} | {c['num_seeds']} | {statistics.mean(r['map'] for r in b):.4f} | {budget(b)} | "
            f"{statistics.mean(r['map'] for r in a):.4f} | {budget(a)} | {c['mean']:+.4f} | "
            f"[{c['low']:+.4f}, {c['high']:+.4f}] | {c['verdict']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    before_path, after_path = (Path(p) for p in sys.argv[1:3])
    print(shift_table(json.loads(before_path.read_text()), json.loads(after_path.read_text())))
