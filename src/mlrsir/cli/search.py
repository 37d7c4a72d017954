"""``mlrsir search --index PATH --query IMAGE [--k 20] [--radius R] [--label L ...] [--json]``.

Encodes the query image with the model of the index's run directory (refusing when
that model's fingerprint differs from the one the index was built with, see
:func:`mlrsir.inference.fingerprint.check_encoder_compatible`) and prints the nearest
images found by :func:`mlrsir.inference.search.search_by_image`: rank, Hamming
distance, path, labels. ``--json`` prints a list of
``{rank, id, distance, path, width, height, labels}``.
"""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("search", help="find the images of an index nearest to a query image")
    parser.add_argument("--index", required=True, help="index directory (mlrsir index build)")
    parser.add_argument("--query", required=True, help="query image file")
    parser.add_argument("--k", type=int, default=20, help="number of results (default 20)")
    parser.add_argument("--radius", type=int, help="only results within this Hamming distance")
    parser.add_argument("--label", nargs="+", default=None, help="keep only images having all these labels")
    parser.add_argument("--backend", default="auto", help="auto, faiss, faiss-unpadded, numpy or hash")
    parser.add_argument("--run", help="run directory of the model (default: the index's own run)")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def run(args) -> int:
    from mlrsir.data.images import read_rgb
    from mlrsir.errors import ConfigError, IndexStoreError
    from mlrsir.index.ingest import load_encoder
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.fingerprint import check_encoder_compatible
    from mlrsir.inference.search import search_by_image

    if args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    if args.radius is not None and args.radius < 0:
        raise ConfigError(f"--radius must be >= 0, got {args.radius}")
    image = read_rgb(args.query)
    with CodeIndex.open(args.index, readonly=True) as index:
        run_dir = args.run or index.run_dir
        if not run_dir:
            raise IndexStoreError(f"{index.db_path}: the index records no run directory; pass --run")
        encoder = load_encoder(run_dir)
        check_encoder_compatible(encoder, index)
        rows = search_by_image(
            index, encoder, image, k=args.k, radius=args.radius, label_filter=args.label, backend=args.backend
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no results")
        return 0
    print(f"{'rank':>4}  {'dist':>4}  path  labels")
    for row in rows:
        labels = ", ".join(row["labels"]) if row["labels"] else "-"
        print(f"{row['rank']:>4}  {row['distance']:>4}  {row['path']}  {labels}")
    return 0
