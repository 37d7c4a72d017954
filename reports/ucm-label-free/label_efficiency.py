"""The label-efficiency curve of reports/ucm-label-free/ (issue 25): test mAP against label fraction.

Reads the rows written by ``make_report.py`` (``results.json`` files, no per-query lists
needed): every ``partial`` MLRSIR-NET row of the given bits/protocol/seed, the label-free row
(F = 0) and the fully supervised reference row (F = 1, from ``--reference``, a benchmark
``results.json``), and draws tie-aware mAP@all against F on a log axis, with the ITQ row
(frozen backbone, no labels) as a horizontal line. Every point is one run (one seed): the
figure says so.

    python reports/ucm-label-free/label_efficiency.py --bits 32 --seed 0 \
        --reference reports/ucm/results.json --out reports/ucm-label-free/label_efficiency.png \
        reports/ucm-label-free/results.json reports/ucm-label-free/partial/results.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure


def sampling_of(row: dict) -> str:
    """How a partial row's labelled images trained (rows written before the option: the random batch)."""
    return row.get("labelled_sampling", "in random batch")


def curve_points(rows: list[dict], bits: int, protocol: str, seed: int, sampling: str) -> list[tuple[float, float]]:
    """``[(F, mAP)]`` of the partial rows with ``labelled_sampling == sampling``, ascending F;
    a fraction measured twice keeps the later file's row."""
    points: dict[float, float] = {}
    for r in rows:
        if (r["supervision"], r["bits"], r["protocol"], r["seed"]) != ("partial", bits, protocol, seed):
            continue
        if sampling_of(r) == sampling:
            points[float(r["label_fraction"])] = float(r["map"])
    return sorted(points.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", nargs="+", help="results.json files of make_report.py")
    ap.add_argument("--reference", required=True, help="benchmark results.json with the supervised mlrsir row")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocol", default="paper")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = [r for path in args.results for r in json.loads(Path(path).read_text())]
    key = (args.bits, args.protocol, args.seed)
    full = [
        float(r["map"])
        for r in json.loads(Path(args.reference).read_text())
        if r.get("method") == "mlrsir" and (r["bits"], r["seed"]) == (args.bits, args.seed)
    ]
    none = [float(r["map"]) for r in rows if r["method"] == "mlrsir" and r["supervision"] == "none"
            and (r["bits"], r["protocol"], r["seed"]) == key]  # fmt: skip
    itq = [float(r["map"]) for r in rows if r["method"] == "itq" and (r["bits"], r["protocol"], r["seed"]) == key]
    if not full:
        raise SystemExit(f"{args.reference}: no supervised mlrsir row at {args.bits} bits, seed {args.seed}")
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    samplings = sorted({sampling_of(r) for r in rows if r["supervision"] == "partial"})
    for sampling in samplings:
        pts = curve_points(rows, *key, sampling)
        if not pts:
            continue
        xs = [p[0] for p in pts] + [1.0]
        ys = [p[1] for p in pts] + [full[0]]
        weights = {r.get("ssl_weight", 1.0) for r in rows if sampling_of(r) == sampling}
        extra = " + NT-Xent" if any(w for w in weights if w) else ", no label-free term"
        ax.plot(xs, ys, marker="o", label=f"partial: labelled images {sampling}{extra}")
        for x, y in zip(xs, ys, strict=True):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(4, -12), fontsize=7)
    ax.axhline(full[0], color="k", lw=0.8, ls="--", label=f"full supervision (F = 1): {full[0]:.3f}")
    if none:
        ax.axhline(none[0], color="tab:red", lw=0.8, ls=":", label=f"label-free MLRSIR-NET (F = 0): {none[0]:.3f}")
    if itq:
        ax.axhline(itq[0], color="tab:gray", lw=0.8, ls="-.", label=f"ITQ, frozen backbone, no labels: {itq[0]:.3f}")
    ax.set_xscale("log")
    ax.set_xlabel("label fraction F of the training images (log scale)")
    ax.set_ylabel("tie-aware mAP@all (test queries)")
    ax.set_title(
        f"UCM (Chaudhuri et al. labels), {args.protocol} protocol, {args.bits} bits, "
        f"seed {args.seed}: one run per point",
        fontsize=8,
    )
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
