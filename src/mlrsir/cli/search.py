"""``mlrsir search --index PATH --query IMAGE [--k 20] [--radius R] [--label L ...] [--json]``.

Encodes the query image with the model of the index's run directory (refusing when
that model's fingerprint differs from the one the index was built with, see
:func:`mlrsir.inference.fingerprint.check_encoder_compatible`) and prints the nearest
images found by :func:`mlrsir.inference.search.search_by_image`: rank, Hamming
distance, path, labels. ``--json`` prints a list of
``{rank, id, distance, path, width, height, labels, geo}`` (``geo`` null except for
tiles of georeferenced scenes, see :mod:`mlrsir.inference.search`).

Satellite archives:

* ``--query`` may be a raster scene (read whole, decimated) or a tile id
  ``SCENE_PATH#col,row,w,h`` (read windowed); both use the radiometry stored in the index.
* ``--at LON,LAT`` (instead of ``--query``): search with the stored code of the indexed
  tile containing that point (the nearest centre when tiles overlap); the tile itself is
  included (rank 1, distance 0).
* ``--bbox LON_MIN,LAT_MIN,LON_MAX,LAT_MAX``: keep only results whose footprint
  intersects the box.
* ``--geojson FILE``: also write the georeferenced results as an RFC 7946
  FeatureCollection of footprint polygons (properties rank, id, distance, path, labels).
"""

from __future__ import annotations

import json

from mlrsir.cli.runtime_options import add_runtime_arguments
from mlrsir.index.backend_registry import backend_help
from mlrsir.text import printable


def register(subparsers) -> None:
    parser = subparsers.add_parser("search", help="find the images of an index nearest to a query image")
    parser.add_argument("--index", required=True, help="index directory (mlrsir index build)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--query", help="query image file, raster scene or tile id SCENE#col,row,w,h")
    what.add_argument("--at", help="LON,LAT: search with the indexed tile containing this point")
    what.add_argument(
        "--positives",
        help="ID,ID,...: find all like these indexed items (a linear classifier on the codes, fitted to them "
        "and to --negatives, ranks the whole index; marked items are left out)",
    )
    parser.add_argument("--negatives", help="ID,ID,...: items unlike the wanted ones (with --positives)")
    from mlrsir.cli.index_extras import add_label_search_arguments  # search by labels

    add_label_search_arguments(parser, what)
    parser.add_argument("--bbox", help="LON_MIN,LAT_MIN,LON_MAX,LAT_MAX: keep results intersecting this box")
    parser.add_argument("--geojson", help="also write the results as a GeoJSON FeatureCollection to this file")
    parser.add_argument("--k", type=int, default=20, help="number of results (default 20)")
    parser.add_argument("--radius", type=int, help="only results within this Hamming distance")
    parser.add_argument("--label", nargs="+", default=None, help="keep only images having all these labels")
    parser.add_argument("--backend", default="auto", help=backend_help())
    parser.add_argument("--run", help="run directory of the model (default: the index's own run)")
    add_runtime_arguments(parser)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=run)


def _numbers(text: str, option: str, count: int) -> list[float]:
    from mlrsir.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != count:
        raise ConfigError(f"{option} {text!r}: expected {count} comma-separated numbers")
    return values


def _ids(text: str | None, option: str) -> list[int]:
    """``ID,ID,...`` -> ints (empty for None); ConfigError naming the option."""
    from mlrsir.errors import ConfigError

    if not text:
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected item ids separated by commas") from None


def write_results_geojson(path, rows) -> int:
    """Write the georeferenced ``rows`` as a FeatureCollection; returns the feature count."""
    from mlrsir.geo.geojson import stac_properties, write_geojson

    items = [
        (
            row["geo"],
            {
                "id": row["id"],
                "rank": row["rank"],
                "distance": row["distance"],
                "path": row["path"],
                "labels": row["labels"],
                **stac_properties(row["geo"]),
            },
        )
        for row in rows
        if row.get("geo")
    ]
    write_geojson(path, items)
    return len(items)


def run(args) -> int:
    from mlrsir.errors import ConfigError, IndexStoreError
    from mlrsir.index.ingest import load_hashing_encoder
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.fingerprint import check_encoder_compatible
    from mlrsir.inference.search import check_bbox, item_at, load_query_image, search_by_image, search_by_item

    if args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    if args.radius is not None and args.radius < 0:
        raise ConfigError(f"--radius must be >= 0, got {args.radius}")
    bbox = check_bbox(_numbers(args.bbox, "--bbox", 4)) if args.bbox else None
    if getattr(args, "labels", None) is not None:
        from mlrsir.cli.index_extras import search_labels

        return search_labels(args)
    with CodeIndex.open(args.index, readonly=True) as index:
        from mlrsir.cli.index_extras import checked_labels, label_filter_note

        if args.label is not None:
            args.label = checked_labels(index, args.label, "--label")
        note = label_filter_note(index, args.label)
        options = dict(k=args.k, radius=args.radius, label_filter=args.label, backend=args.backend, bbox=bbox)
        timed = any(getattr(args, key, None) is not None for key in ("after", "before", "max_cloud"))
        if timed:  # rank everything, then keep the tiles passing --after/--before/--max-cloud
            options["k"] = max(args.k, len(index))
        if args.positives:
            from mlrsir.inference.like_these import search_like_these
            from mlrsir.inference.search import ids_in_bbox

            allowed = None if bbox is None else ids_in_bbox(index, bbox)
            if args.label is not None:
                with_labels = {int(i) for i in index.ids_with_labels(args.label)}
                allowed = with_labels if allowed is None else allowed & with_labels
            pos, neg = _ids(args.positives, "--positives"), _ids(args.negatives, "--negatives")
            rows = search_like_these(index, pos, neg, k=options["k"], allowed=allowed)
        elif args.at:
            lon, lat = _numbers(args.at, "--at", 2)
            rows = search_by_item(index, item_at(index, lon, lat), include_self=True, **options)
        else:
            image = load_query_image(index, args.query)
            run_dir = args.run or index.run_dir
            if not run_dir:
                raise IndexStoreError(f"{index.db_path}: the index records no run directory; pass --run")
            encoder = load_hashing_encoder(run_dir, runtime=args.runtime, precision=args.precision)
            check_encoder_compatible(encoder, index)
            rows = search_by_image(index, encoder, image, query_path=args.query, **options)
        if timed:
            from mlrsir.cli.index_extras import filter_rows

            rows = filter_rows(index, rows, args)[: args.k]
    if args.geojson:
        n = write_results_geojson(args.geojson, rows)
        if not args.json:
            print(f"wrote {n} georeferenced results to {args.geojson}")
    if args.json:
        print(json.dumps(rows, indent=2))
    if not rows:
        from mlrsir.cli.index_extras import say_nothing_found

        return say_nothing_found("nothing matched the query and filters" + (f" ({note})" if note else ""))
    if args.json:
        return 0
    if note:
        print(note)
    column = "score" if args.positives else "dist"
    print(f"{'rank':>4}  {column:>6}  path  labels")
    for row in rows:  # names escaped (mlrsir.text.printable); --json keeps them raw
        labels = printable(", ".join(row["labels"])) if row["labels"] else "-"
        value = f"{row['score']:.3f}" if args.positives else row["distance"]
        print(f"{row['rank']:>4}  {value:>6}  {printable(row['path'])}  {labels}")
    return 0
