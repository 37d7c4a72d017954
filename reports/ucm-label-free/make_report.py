"""Tables of reports/ucm-label-free/ from finished `mlrsir train` runs (issue 25).

For every run given as ``LABEL=RUN_DIR`` it reads ``metrics.json`` (written by ``mlrsir train``);
for every label-free run (``supervision: none``) it also fits the ``itq`` and ``lsh`` baselines
(mlrsir.methods.itq) on the frozen ImageNet backbone's pooled multi-level features of the
same run's training images (its own ``split.json``, no labels read while fitting) and
evaluates them with the same protocol and metrics. Paired bootstrap over the queries
(mlrsir.report.stats, 10,000 resamples, 95 % percentile interval):
label-free MLRSIR-NET against each baseline of the same protocol/bits/seed, and each
``partial`` run against the supervised run of the same bits/seed (a ``full`` run given here,
or the row of ``--reference``, a benchmark results.json with the same split seed).

    python reports/ucm-label-free/make_report.py --out reports/ucm-label-free \
        --reference reports/ucm/results.json none-32=/tmp/d/runs/none-32b-s0 ...

Writes OUT/results.json, OUT/results.csv and OUT/comparisons.json (no per-query lists).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mlrsir.data.splits import protocol_indices
from mlrsir.methods.itq import UNSUPERVISED_BASELINES
from mlrsir.methods.registry import get_method
from mlrsir.metrics.protocol import all_but_query_metrics, evaluate_method
from mlrsir.report.stats import paired_bootstrap, verdict
from mlrsir.run.config import TrainConfig
from mlrsir.training.trainer import prepare_data
from mlrsir.training.unsupervised_baselines import pooled_backbone_features

COLUMNS = [
    "label", "method", "supervision", "label_free_objective", "neighbour_k", "label_fraction", "labelled_sampling",
    "ssl_weight", "bits", "protocol",
    "seed", "split_seed",
    "map", "map_stable", "all_but_query_map", "all_but_query_map_stable", "precision_at_10",
    "num_distinct_db_codes", "num_queries", "num_database", "train_seconds", "source",
]  # fmt: skip


def run_row(label: str, run_dir: Path) -> tuple[dict, TrainConfig]:
    config = TrainConfig.load(run_dir / "config.json")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    meta = json.loads((run_dir / "meta.json").read_text())
    row = {k: metrics.get(k) for k in COLUMNS if k in metrics}
    row |= {
        "label": label,
        "method": "mlrsir",
        "supervision": config.supervision,
        "label_fraction": config.label_fraction,
        "bits": config.bits,
        "protocol": config.protocol,
        "seed": config.seed,
        "split_seed": config.split_seed,
        "iterations": config.iterations,
        "batch_size": config.batch_size,
        "train_precision": config.train_precision,
        "train_seconds": meta.get("train_seconds"),
        "source": str(run_dir),
        "git": meta.get("git", {}).get("revision"),
        "per_query_ap": metrics["per_query_ap"],
    }
    if config.supervision == "none":
        row["label_free_objective"] = config.label_free_objective
        row["neighbour_k"] = config.neighbour_k
    if config.supervision == "partial":
        row["ssl_weight"] = config.ssl_weight
        row["labelled_sampling"] = (
            f"in a batch of {config.labelled_batch_size} of their own"
            if config.labelled_batch_size
            else "in random batch"
        )
    return row, config


def baseline_rows(run_row_: dict, config: TrainConfig, run_dir: Path) -> list[dict]:
    """``itq`` and ``lsh`` on the frozen backbone, fitted on the run's training images."""
    frozen = dataclasses.replace(config, finetune="none")
    data = prepare_data(frozen, run_dir / "split.json", progress=False)
    train_idx, q, db = protocol_indices(data.split, frozen.eval_split)
    start = time.perf_counter()
    feats = pooled_backbone_features(frozen, data)
    feature_seconds = time.perf_counter() - start
    hamming = get_method("mlrsir", config.bits)  # binarize + Hamming ranking
    labels = np.asarray(data.labels)
    rows = []
    for name, cls in UNSUPERVISED_BASELINES.items():
        start = time.perf_counter()
        kwargs = {"iterations": 50} if name == "itq" else {}
        baseline = cls(config.bits, seed=config.seed, **kwargs)
        baseline.fit(feats[train_idx])  # training images only, no labels
        fit_seconds = time.perf_counter() - start
        proj = baseline.project(feats)
        proj = (proj / max(float(np.abs(proj).max()), 1e-12)).astype(np.float32)
        metrics = evaluate_method(hamming, proj[q], proj[db], labels[q], labels[db], curves=False)
        metrics |= all_but_query_metrics(hamming, proj, labels, q, db)
        row = {k: metrics.get(k) for k in COLUMNS if k in metrics}
        row |= {
            "label": f"{name}-{config.protocol}-{config.bits}-s{config.seed}",
            "method": name,
            "supervision": "none",
            "label_fraction": 0.0,
            "bits": config.bits,
            "protocol": config.protocol,
            "seed": config.seed,
            "split_seed": config.split_seed,
            "train_seconds": fit_seconds,
            "feature_seconds": feature_seconds,
            "source": f"fitted on the split of {run_dir}",
            "per_query_ap": metrics["per_query_ap"],
        }
        rows.append(row)
    return rows


def compare(a: dict, b: dict, what: str, resamples: int) -> dict:
    pa, pb = np.asarray(a["per_query_ap"]), np.asarray(b["per_query_ap"])
    if pa.shape != pb.shape:
        raise SystemExit(f"{a['label']} vs {b['label']}: different query sets ({pa.shape} vs {pb.shape})")
    res = paired_bootstrap(pa - pb, n_resamples=resamples)
    return {
        "comparison": what,
        "a": a["label"],
        "b": b["label"],
        "bits": a["bits"],
        "protocol": a["protocol"],
        "seed": a["seed"],
        "map_a": a["map"],
        "map_b": b["map"],
        "delta": res.mean,
        "low": res.low,
        "high": res.high,
        "verdict": verdict(res),
        "num_queries": res.num_queries,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    ap.add_argument("--reference", help="benchmark results.json holding the supervised mlrsir rows")
    ap.add_argument(
        "--compare", nargs="*", default=[], metavar="LABEL_A:LABEL_B", help="also bootstrap run A against run B"
    )
    ap.add_argument("--resamples", type=int, default=10_000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows, comparisons = [], []
    for item in args.runs:
        label, _, path = item.partition("=")
        row, config = run_row(label, Path(path))
        rows.append(row)
        if config.supervision == "none":
            for base in baseline_rows(row, config, Path(path)):
                rows.append(base)
                comparisons.append(compare(row, base, f"label-free mlrsir - {base['method']}", args.resamples))
    reference = json.loads(Path(args.reference).read_text()) if args.reference else []
    for row in [r for r in rows if r["supervision"] == "partial"]:
        full = [r for r in rows if r["supervision"] == "full" and r["bits"] == row["bits"] and r["seed"] == row["seed"]]
        if not full and row["protocol"] == "paper":
            full = [
                r | {"label": f"supervised-{r['bits']}-s{r['seed']} ({args.reference})", "protocol": "paper"}
                for r in reference
                if r.get("method") == "mlrsir" and r["bits"] == row["bits"] and r["seed"] == row["seed"]
            ]
        for f in full[:1]:
            comparisons.append(compare(row, f, "partial - full supervision", args.resamples))
    by_label = {r["label"]: r for r in rows}
    for pair in args.compare:
        a, _, b = pair.partition(":")
        if a not in by_label or b not in by_label:
            raise SystemExit(f"--compare {pair}: labels must be among {sorted(by_label)}")
        comparisons.append(compare(by_label[a], by_label[b], f"{a} - {b}", args.resamples))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    public = [{k: v for k, v in r.items() if k != "per_query_ap"} for r in rows]
    (out / "results.json").write_text(json.dumps(public, indent=1) + "\n")
    (out / "comparisons.json").write_text(json.dumps(comparisons, indent=1) + "\n")
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(public)
    for r in public:
        print(f"{r['label']:28s} {r['method']:6s} {r['bits']:3d} bits map {r['map']:.4f} stable {r['map_stable']:.4f}")
    for c in comparisons:
        print(f"{c['a']} - {c['b']}: {c['delta']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}] {c['verdict']}")


if __name__ == "__main__":
    main()
