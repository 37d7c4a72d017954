"""``mlrsir evaluate``: the retrieval protocol on a run's codes (queries = test, database = train)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="retrieval metrics of an encoded run (run `mlrsir encode` first)")
    p.add_argument("--run", required=True)
    p.add_argument(
        "--database",
        default="train",
        choices=["train", "all-but-query"],
        help="train: database = training split (paper); all-but-query: every image but the query",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--curves", action="store_true", help="include PR and P@N curves in the JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from mlrsir.cli.printing import print_metrics, scalar_metrics
    from mlrsir.errors import ConfigError
    from mlrsir.inference.encoder import load_encoder
    from mlrsir.metrics.protocol import evaluate_method

    encoder = load_encoder(args.run)
    paths = encoder.paths
    if not paths.codes.is_file():
        raise ConfigError(f"{paths.codes}: not found; run `mlrsir encode --run {paths.root}` first")
    data = np.load(paths.codes)
    key = "codes" if encoder.retrieval == "hamming" else "assignments"
    repr_all, outputs, labels = data[key], data["outputs"], data["labels"]
    query_idx = data["query_idx"]
    if args.database == "train":
        db_idx = data["db_idx"]
        exclude = None
    else:
        db_idx = np.arange(len(labels))
        exclude = query_idx  # the query itself is removed from its own ranking
    # the method's ranking (headline), plus per-query AP, distinct codes and, for hashing
    # methods, the Hamming + asymmetric tie-break and the asymmetric rankings
    metrics = evaluate_method(
        encoder.method,
        outputs[query_idx],
        None,
        labels[query_idx],
        labels[db_idx],
        db_repr=repr_all[db_idx],
        curves=args.curves,
        exclude_self=exclude if exclude is not None else False,
        db_ids=db_idx if exclude is not None else None,
    )
    if args.json:
        print(json.dumps(metrics if args.curves else scalar_metrics(metrics)))  # per-query lists: with --curves
    else:
        print_metrics(
            metrics, title=f"{paths.root}: {encoder.config.method} {encoder.bits} bits (database: {args.database})"
        )
    return 0
