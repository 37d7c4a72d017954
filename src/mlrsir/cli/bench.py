"""``mlrsir bench search``: exact Hamming search vs float search vs hashing (speed, memory, recall).

See :mod:`mlrsir.index.bench` for what is measured and how the data are made. Prints a
Markdown table (or JSON with ``--json``) and writes it to ``--out`` when given.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="speed benchmarks")
    sub = parser.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    search = sub.add_parser("search", help="search speed/memory/recall of the index back-ends vs float search")
    search.add_argument("--n", type=int, default=1_000_000, help="database size (default 1000000)")
    search.add_argument("--queries", type=int, default=1000)
    search.add_argument("--k", type=int, default=100)
    search.add_argument("--bits", type=int, nargs="+", default=[12, 24, 32, 48], help="code lengths (source random)")
    search.add_argument("--source", choices=["random", "ucm"], default="random")
    search.add_argument("--run", nargs="+", help="run directories (source ucm; one per code length)")
    search.add_argument("--images", help="image folder to encode (source ucm), e.g. ucm-multilabel/Images")
    search.add_argument("--views", type=int, default=8, help="augmented views per image (source ucm, default 8)")
    search.add_argument("--max-images", type=int, help="encode only the first N images (source ucm)")
    search.add_argument("--flip-prob", type=float, default=0.05, help="bit-flip probability when tiling (ucm)")
    search.add_argument("--float-dim", type=int, default=500, help="float feature dimension (source random)")
    search.add_argument("--hash-b", type=int, help="bits per hash table (default min(bits, 16))")
    search.add_argument("--hash-nflip", type=int, default=1, help="flipped bits probed per table (default 1)")
    search.add_argument("--numpy-budget", type=float, default=4.0, help="seconds for the numpy timing")
    search.add_argument("--float-budget", type=float, default=6.0, help="seconds for the float timing")
    search.add_argument("--threads", type=int, help="faiss OpenMP threads (default: all cores)")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument("--json", action="store_true")
    search.add_argument("--out", help="write the Markdown report (or JSON with --json) to this file")
    search.set_defaults(func=run_search)


def run_search(args) -> int:
    import sys

    from mlrsir.index.bench import run_search_bench, to_markdown

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_search_bench(
        n=args.n, queries=args.queries, k=args.k, bits=args.bits, source=args.source, runs=args.run,
        images=args.images, views=args.views, max_images=args.max_images, flip_prob=args.flip_prob,
        float_dim=args.float_dim, seed=args.seed, numpy_budget_s=args.numpy_budget,
        float_budget_s=args.float_budget, hash_b=args.hash_b, hash_nflip=args.hash_nflip, threads=args.threads,
        log=log,
    )
    text = json.dumps(result, indent=2) + "\n" if args.json else to_markdown(result)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0
