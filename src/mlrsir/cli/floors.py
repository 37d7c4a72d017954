"""``mlrsir floors``: chance-level mAP of a dataset's retrieval protocol.

For each seed ``s`` in ``0..seeds-1``: split = ``make_split(dataset, seed=s)``, queries =
test, database = trainval; the random-codes floor (uniform random codes, seed ``s``) for
every requested bit length and the random-ranking floor (seed ``s``). Prints mean ± sample
standard deviation over the seeds, plus the exact expected mAP of a random ranking.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from mlrsir.data.registry import DATASETS, DEFAULT_DATASET

    p = sub.add_parser(
        "floors",
        help="chance floors: mAP of random codes and of a random ranking on a dataset's split",
    )
    p.add_argument(
        "--dataset", default=DEFAULT_DATASET, help=f"dataset name ({', '.join(DATASETS)}); default {DEFAULT_DATASET}"
    )
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--bits", type=int, nargs="+", default=[12, 24, 32, 48], help="code lengths (default 12 24 32 48)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds 0..S-1 (split and random draws); default 3")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def _mean_std(values) -> dict:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "n": int(v.size),
        "values": [float(x) for x in v],
    }


def compute_floors(labels, splits, bits_list) -> dict:
    """Floors over ``splits`` (one :class:`~mlrsir.data.splits.Split` per seed, seed = its
    ``seed``) for a ``(N, C)`` label matrix. Returns the JSON-ready dict printed by the CLI."""
    from mlrsir.metrics.floors import random_codes_floor, random_ranking_floor

    per_bits = {int(b): {"map": [], "map_stable": []} for b in bits_list}
    ranking = {"map": [], "expected_map": []}
    sizes = []
    for split in splits:
        ql, dl = labels[split.test], labels[split.trainval]
        sizes.append((len(split.test), len(split.trainval)))
        for b in per_bits:
            res = random_codes_floor(ql, dl, bits=b, seed=split.seed)
            per_bits[b]["map"].append(res["map"])
            per_bits[b]["map_stable"].append(res["map_stable"])
        res = random_ranking_floor(ql, dl, seed=split.seed)
        ranking["map"].append(res["map"])
        ranking["expected_map"].append(res["expected_map"])
    return {
        "seeds": [int(s.seed) for s in splits],
        "num_queries": [q for q, _ in sizes],
        "num_database": [d for _, d in sizes],
        "random_codes": {str(b): {k: _mean_std(v) for k, v in vals.items()} for b, vals in per_bits.items()},
        "random_ranking": {k: _mean_std(v) for k, v in ranking.items()},
    }


def run(args: argparse.Namespace) -> int:
    import json

    from mlrsir.codes import check_code_length
    from mlrsir.data.registry import load_dataset
    from mlrsir.data.splits import make_split
    from mlrsir.errors import ConfigError

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    for b in args.bits:
        check_code_length(b, name="--bits")
    dataset = load_dataset(args.dataset, args.root)
    splits = [make_split(dataset, seed=s) for s in range(args.seeds)]
    result = {"dataset": args.dataset, **compute_floors(dataset.labels, splits, args.bits)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{args.dataset}: queries = test ({result['num_queries'][0]}), database = trainval "
        f"({result['num_database'][0]}), seeds {result['seeds']} (mean ± std)"
    )
    print(f"  {'floor':<22}  {'mAP (tie-aware)':>17}  {'mAP (stable sort)':>17}")
    for b, vals in result["random_codes"].items():
        m, s = vals["map"], vals["map_stable"]
        label = f"random codes {b} bits"
        print(f"  {label:<22}  {m['mean']:>8.4f} ± {m['std']:.4f}  {s['mean']:>8.4f} ± {s['std']:.4f}")
    r = result["random_ranking"]
    print(f"  {'random ranking':<22}  {r['map']['mean']:>8.4f} ± {r['map']['std']:.4f}  (no ties)")
    print(
        f"  {'random ranking, exact':<22}  {r['expected_map']['mean']:>8.4f} ± {r['expected_map']['std']:.4f}"
        "  (closed-form expectation)"
    )
    return 0
