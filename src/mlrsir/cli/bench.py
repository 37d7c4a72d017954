"""``mlrsir bench``: the speed benchmarks, one subcommand each.

* ``mlrsir bench search``: exact Hamming search vs float search vs hashing (speed, memory,
  recall); see :mod:`mlrsir.bench.search` for what is measured and how the data are made.
  Prints a Markdown table (or JSON with ``--json``) and writes it to ``--out`` when given.
* ``mlrsir bench load``: concurrent clients against ``mlrsir serve``; see
  :mod:`mlrsir.bench.load`.
* ``mlrsir bench encode``: encoding images/s per runtime, side by side; see
  :mod:`mlrsir.bench.encode`.
* ``mlrsir bench slow-clients``: slow sockets against ``mlrsir serve`` while a normal client
  checks ``/api/health``; see :mod:`mlrsir.bench.slow_clients`.
* ``mlrsir bench upload-memory``: peak server memory under concurrent uploads of a very
  large JPEG; see :mod:`mlrsir.bench.upload_memory`.
* ``mlrsir bench index-store``: the whole index (SQLite metadata + code files + saved IVF)
  built from generated codes at scale: insert rate, bytes per item, open and first-search
  time and memory, serve-ready time, verification; see :mod:`mlrsir.bench.index_store`.
* ``mlrsir bench map-tiles``: map tile and quick-look request latency of a scene against
  ``mlrsir serve``; see :mod:`mlrsir.bench.map_tiles`.
* ``mlrsir bench remote``: ingest of a COG locally vs over HTTP vs from S3 (loopback servers):
  tiles/s, identical codes, bytes for a quarter, peak RSS vs scene items; see :mod:`mlrsir.bench.remote`.
* ``mlrsir bench finetune-step``: one training step, fp32 beside bf16; see
  :mod:`mlrsir.bench.finetune_step`.

The accuracy grid of retrieval methods is a different command, ``mlrsir benchmark``.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlrsir.bench import finetune_step, map_tiles, remote, scene_rss, slow_clients
from mlrsir.bench.server import add_served_index_options
from mlrsir.index.backend_registry import scale_bench_backends
from mlrsir.inference.runtimes import PRECISIONS, RUNTIMES


def register(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="speed benchmarks")
    sub = parser.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    search = sub.add_parser("search", help="search speed/memory/recall of the index back-ends vs float search")
    search.add_argument(
        "--n", type=int, action="append", help="database size (default 1000000); repeat for several (scale mode)"
    )
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
    scale = search.add_argument_group(
        "scale mode (--codes/--backends or several --n): back-ends flat/mih/ivf/hnsw at several sizes, "
        "see mlrsir.bench.scale"
    )
    scale.add_argument("--codes", nargs="+", choices=["random", "realistic"], help="kinds of codes")
    scale.add_argument(
        "--backends", nargs="+", help=f"default: {' '.join(scale_bench_backends())} (any --backend name)"
    )
    scale.add_argument(
        "--real-codes",
        nargs="+",
        help="cached real codes (.npz) for --codes realistic, one per code length; missing ones are encoded "
        "from --run (same order) and --images",
    )
    scale.add_argument("--big-n", type=int, default=100_000_000, help="from this n, flat is timed on fewer queries")
    scale.add_argument("--big-n-queries", type=int, default=100, help="queries for flat (and recall) at --big-n")
    scale.add_argument("--hnsw-max-n", type=int, default=1_000_000, help="skip hnsw above this n (build time)")
    scale.add_argument(
        "--query-budget", type=float, help="time each back-end on a prefix of the queries taking about this many s"
    )
    scale.add_argument("--mih-nflip", type=int, help="mih: flipped bits probed per table")
    scale.add_argument("--mih-b", type=int, help="mih: bits per table")
    scale.add_argument("--ivf-nlist", type=int, help="ivf: cells (default ~sqrt(n), power of two)")
    scale.add_argument("--ivf-nprobe", type=int, help="ivf: cells scanned per query (default 8)")
    scale.add_argument("--hnsw-m", type=int, help="hnsw: links per node (default 16)")
    scale.add_argument("--hnsw-ef-search", type=int, help="hnsw: efSearch (default 128)")
    scale.add_argument("--hnsw-ef-construction", type=int, help="hnsw: efConstruction (default 64)")
    scale.add_argument("--plot", help="write a PNG of queries/s against n (scale mode)")
    search.add_argument("--json", action="store_true")
    search.add_argument("--out", help="write the Markdown report (or JSON with --json) to this file")
    search.set_defaults(func=run_search)
    _register_load(sub)
    _register_upload_memory(sub)
    slow_clients.register(sub)
    _register_encode(sub)
    _register_scene_rss(sub)
    _register_remote(sub)
    _register_index_store(sub)
    map_tiles.register(sub)
    finetune_step.register(sub)


def _register_index_store(sub) -> None:
    p = sub.add_parser(
        "index-store",
        help="build the whole index (metadata + codes + saved IVF) at scale from generated codes and measure it",
    )
    p.add_argument("--n", type=int, required=True, help="items (e.g. 10000000)")
    p.add_argument("--bits", type=int, default=48)
    p.add_argument("--codes", choices=["random", "realistic"], default="realistic")
    p.add_argument("--real-codes", help="cached real codes (.npz) for --codes realistic")
    p.add_argument("--dir", required=True, help="empty folder for the index (left in place; several GB at 1e7)")
    p.add_argument("--chunk", type=int, default=1_000_000, help="items per add (one transaction each)")
    p.add_argument("--ivf-nlist", type=int, default=1024, help="IVF cells of the saved structure (default 1024)")
    p.add_argument("--small", type=int, default=10_000, help="items of the small add/remove at scale")
    p.add_argument("--no-verify", action="store_true", help="skip the full verification (linear in n)")
    p.add_argument("--run", help="measure serve-ready with the real `mlrsir serve` and this run's encoder")
    p.add_argument(
        "--ivf-only",
        action="store_true",
        help="the saved IVF alone (no SQLite, no code files): build, save, load in a fresh process (mmap and "
        "in memory), first search, resident memory",
    )
    p.add_argument("--threads", type=int, default=1, help="faiss/OpenMP threads (default 1, see the module doc)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--out", help="write the report (JSON with --json) to this file")
    p.set_defaults(func=run_index_store)


def run_index_store(args) -> int:
    import sys

    from mlrsir.bench.index_store import run_index_store_bench, to_markdown

    real = None
    if args.codes == "realistic":
        from mlrsir.bench.realistic import load_real_codes
        from mlrsir.errors import ConfigError

        if not args.real_codes:
            raise ConfigError("--codes realistic needs --real-codes FILE.npz (e.g. reports/scale/real_codes_48.npz)")
        material = load_real_codes(args.real_codes)
        real = {material["bits"]: material}
    common = options_of(args, "n", "bits", "codes", "seed", "threads")
    common |= {"real": real, "log": lambda m: print(m, file=sys.stderr, flush=True)}
    if args.ivf_only:
        from mlrsir.bench.index_store import run_saved_ivf_bench

        result = run_saved_ivf_bench(args.dir, nlist=args.ivf_nlist, **common)
        _emit(result, args, to_markdown=None)  # the saved-IVF figures: JSON only
        return 0
    result = run_index_store_bench(
        args.dir,
        chunk=args.chunk,
        ivf_nlist=args.ivf_nlist,
        small=args.small,
        verify=not args.no_verify,
        serve_run=args.run,
        **common,
    )
    _emit(result, args, to_markdown)
    return 0


def _encode_options(p) -> None:
    """The options ``bench encode`` and ``bench ray`` share."""
    p.add_argument("--run", required=True, help="a finished run directory")
    p.add_argument("--images", required=True, help="image folder (e.g. ucm-multilabel/Images)")
    p.add_argument("--workers", type=int, nargs="+", default=[1], help="Ray encoder actors per row (default 1)")
    p.add_argument("--max-images", type=int, default=640, help="images used (default 640)")
    p.add_argument("--batch-size", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)")
    p.add_argument("--budget", type=float, default=5.0, help="seconds per measurement (default 5)")
    p.add_argument("--json", action="store_true")


def _register_encode(sub) -> None:
    p = sub.add_parser(
        "encode", help="encoding throughput (files -> codes, and the model alone), runtimes side by side"
    )
    _encode_options(p)
    p.add_argument(
        "--runtime",
        action="append",
        choices=RUNTIMES,
        help="runtime to measure (repeatable, measured in the order given, each at every precision it runs; "
        "default: torch then onnx)",
    )
    p.add_argument(
        "--precision",
        action="append",
        choices=PRECISIONS,
        help="measure only these precisions (repeatable; default: every precision of each runtime)",
    )
    p.add_argument(
        "--engine",
        action="append",
        choices=["local", "ray"],
        help="local (in-process) and/or ray (Ray Data pipeline, one row per --workers value; "
        "pip install 'mlrsir[ray]'); default local. With --engine and no --runtime: torch only",
    )
    p.add_argument(
        "--scene",
        help="a GeoTIFF scene (file or band folder) whose 256 px windows are decoded for the decode ceiling, "
        "e.g. ../shared/data/geo/sentinel2-l1c-T18SVG-20160112",
    )
    p.set_defaults(func=run_encode)
    ray = sub.add_parser(
        "ray", help="encoding throughput on Ray (= bench encode --engine ray; pip install 'mlrsir[ray]')"
    )
    _encode_options(ray)
    ray.set_defaults(func=run_encode, runtime=None, engine=["ray"], scene=None)


def _register_remote(sub) -> None:
    p = sub.add_parser("remote", help="COG ingest: local vs HTTP vs S3 on loopback (tiles/s, codes, bytes, RSS)")
    remote.add_arguments(p)
    p.set_defaults(func=remote.main)


def _register_scene_rss(sub) -> None:
    p = sub.add_parser("scene-rss", help="peak RSS and tiles/s of tiling a Sentinel-2 scene and a 2x2 mosaic of it")
    scene_rss.add_arguments(p)
    p.set_defaults(func=lambda a: scene_rss.report(a.scene, a.bands, a.tile, a.cache_mb, child_run=a.child))


def run_encode(args) -> int:
    import sys

    from mlrsir.bench.encode import EncodeConfig, precisions_to_measure, run_encode_bench, to_markdown

    runtimes = args.runtime or (["torch"] if args.engine else ["torch", "onnx"])
    configs = []
    for engine in args.engine or ["local"]:
        for r in runtimes:
            if engine == "ray":
                from mlrsir.ingest.ray_engine import require_ray

                require_ray()  # clear error naming the extra to install
                configs += [EncodeConfig(runtime=r, engine="ray", workers=w) for w in args.workers]
            else:
                configs += [
                    EncodeConfig(runtime=r, precision=p)
                    for p in precisions_to_measure(r, args.precision, run_dir=args.run)
                ]
    result = run_encode_bench(
        args.run,
        args.images,
        configs,
        max_images=args.max_images,
        batch_sizes=tuple(args.batch_size),
        budget_s=args.budget,
        scene=args.scene,
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(json.dumps(result, indent=2) if args.json else to_markdown(result), end="\n" if args.json else "")
    return 0


def _register_load(sub) -> None:
    p = sub.add_parser("load", help="load test: concurrent search requests against `mlrsir serve`")
    add_served_index_options(p, url=True)
    p.add_argument("--server-pid", type=int, help="pid of the --url server, to report its memory")
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
    p.add_argument(
        "--settle", type=float, default=2.0, help="seconds after the last request before the after-run memory reading"
    )
    p.add_argument(
        "--attention",
        choices=["off", "on", "both"],
        default="off",
        help="off: searches only; on: each search followed by its attention map (GET /api/items/{id}/attention "
        "or POST /api/attention); both: measure both, side by side",
    )
    p.add_argument("--runtime", choices=RUNTIMES, help="passed to `mlrsir serve --runtime`")
    p.add_argument(
        "--baseline-src",
        help="first measure a server run from this source folder (e.g. an older checkout's src), same plan",
    )
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_load)


def _register_upload_memory(sub) -> None:
    p = sub.add_parser(
        "upload-memory", help="peak memory of `mlrsir serve` under concurrent uploads of a very large JPEG"
    )
    add_served_index_options(p)
    p.add_argument("--uploads", type=int, default=16, help="concurrent uploads")
    p.add_argument("--size", type=int, default=9000, help="side of the generated JPEG in pixels")
    p.add_argument("--settle", type=float, default=3.0, help="seconds to wait before the after-run memory reading")
    p.add_argument("--max-peak-mib", type=float, default=1024.0, help="largest accepted peak RSS (VmHWM)")
    p.add_argument(
        "--max-after-growth-mib",
        type=float,
        default=64.0,
        help="largest accepted RSS after the run above the warm level",
    )
    p.set_defaults(func=run_upload_memory)


def run_upload_memory(args) -> int:
    from mlrsir.bench.upload_memory import run

    return run(args)


def run_load(args) -> int:
    from mlrsir.bench.load import run

    return run(args)


def run_search(args) -> int:
    import sys

    from mlrsir.bench.search import run_search_bench, to_markdown

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    ns = args.n or [1_000_000]
    if args.codes or args.backends or len(ns) > 1:
        return _run_scale(args, ns, log)
    result = run_search_bench(
        n=ns[0],
        runs=args.run,
        numpy_budget_s=args.numpy_budget,
        float_budget_s=args.float_budget,
        log=log,
        **options_of(args, "queries", "k", "bits", "source", "images", "views", "max_images", "flip_prob"),
        **options_of(args, "float_dim", "seed", "hash_b", "hash_nflip", "threads"),
    )
    _emit(result, args, to_markdown)
    return 0


def _run_scale(args, ns, log) -> int:
    from mlrsir.bench.realistic import load_real_codes
    from mlrsir.bench.scale import plot, run_scale_bench, to_markdown

    codes = args.codes or ["random"]
    real = {}
    if "realistic" in codes:
        runs = args.run or []
        for i, path in enumerate(args.real_codes or []):
            material = load_real_codes(
                path, run_dir=runs[i] if i < len(runs) else None, images=args.images, views=args.views, log=log
            )
            real[material["bits"]] = material
    named = {
        "mih": {"nflip": args.mih_nflip, "b": args.mih_b},
        "ivf": {"nlist": args.ivf_nlist, "nprobe": args.ivf_nprobe},
        "hnsw": {"M": args.hnsw_m, "ef_search": args.hnsw_ef_search, "ef_construction": args.hnsw_ef_construction},
    }
    options = {name: {k: v for k, v in opts.items() if v is not None} for name, opts in named.items()}
    result = run_scale_bench(
        ns=ns,
        codes=codes,
        backends=args.backends or scale_bench_backends(),
        real=real,
        query_budget_s=args.query_budget,
        options=options,
        log=log,
        **options_of(args, "bits", "queries", "k", "big_n", "big_n_queries", "hnsw_max_n", "seed", "threads"),
    )
    _emit(result, args, to_markdown)
    if args.plot:
        plot(result, args.plot)
    return 0


def options_of(args, *names: str) -> dict:
    """``{name: args.name}`` for the parsed options ``names`` passed on unchanged."""
    return {name: getattr(args, name) for name in names}


def _emit(result: dict, args, to_markdown) -> None:
    """Print ``result`` as JSON (``--json``, or always when ``to_markdown`` is None) or
    Markdown, and write the same text to ``--out``."""
    text = json.dumps(result, indent=2) + "\n" if args.json or to_markdown is None else to_markdown(result)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
