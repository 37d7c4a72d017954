"""``mlrsir bench``: the speed benchmarks, one subcommand each.

* ``mlrsir bench search``: exact Hamming search vs float search vs hashing (speed, memory,
  recall); see :mod:`mlrsir.bench.search` for what is measured and how the data are made.
  Prints a Markdown table (or JSON with ``--json``) and writes it to ``--out`` when given.
* ``mlrsir bench load``: concurrent clients against ``mlrsir serve``; see
  :mod:`mlrsir.bench.load`.

The accuracy grid of retrieval methods is a different command, ``mlrsir benchmark``.
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
    _register_load(sub)


def _register_load(sub) -> None:
    p = sub.add_parser("load", help="load test: concurrent search requests against `mlrsir serve`")
    p.add_argument("--index", type=Path, help="index to serve (starts `mlrsir serve` on a free loopback port)")
    p.add_argument("--url", help="base URL of an already running server instead of --index")
    p.add_argument("--server-pid", type=int, help="pid of the --url server, to report its memory")
    p.add_argument("--run-dir", type=Path, help="passed to `mlrsir serve --run-dir`")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=5000, help="total number of search requests")
    p.add_argument("--duration-limit", type=float, default=120.0, help="stop sending after this many seconds")
    p.add_argument(
        "--upload-fraction",
        type=float,
        default=0.02,
        help="share of requests that upload an image (the rest query by item_id)",
    )
    p.add_argument("--k", type=int, default=24, help="results per search")
    p.add_argument(
        "--warmup-requests",
        type=int,
        default=1000,
        help="requests sent (same number of clients) before the memory is first measured",
    )
    p.add_argument(
        "--max-rss-growth-mib", type=float, default=64.0, help="largest accepted growth of the server's resident memory"
    )
    p.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for the server to start")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_load)


def run_load(args) -> int:
    from mlrsir.bench.load import run

    return run(args)


def run_search(args) -> int:
    import sys

    from mlrsir.bench.search import run_search_bench, to_markdown

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = run_search_bench(
        n=args.n,
        queries=args.queries,
        k=args.k,
        bits=args.bits,
        source=args.source,
        runs=args.run,
        images=args.images,
        views=args.views,
        max_images=args.max_images,
        flip_prob=args.flip_prob,
        float_dim=args.float_dim,
        seed=args.seed,
        numpy_budget_s=args.numpy_budget,
        float_budget_s=args.float_budget,
        hash_b=args.hash_b,
        hash_nflip=args.hash_nflip,
        threads=args.threads,
        log=log,
    )
    text = json.dumps(result, indent=2) + "\n" if args.json else to_markdown(result)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0
