"""``mlrsir index build|add|remove|info``: manage a persistent code index.

* ``build --run RUN_DIR --images DIR --index PATH [--labels FILE] [--batch-size 64]
  [--strict] [--overwrite]``: encode every .jpg/.jpeg/.png/.tif/.tiff under DIR
  (recursive, sorted) with the run's model and store codes, absolute paths, sizes and
  (with ``--labels``, matched by file stem) labels. Unreadable images are reported and
  skipped (``--strict``: stop at the first one).
* ``add --index PATH --images DIR|FILE ...``: same for more images, with the model the
  index was built with; paths already in the index are skipped.
* ``remove --index PATH (--ids ID ... | --paths PATH ...)``.
* ``info --index PATH [--json] [--verify]``.
"""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("index", help="build and manage a persistent code index")
    sub = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="encode a folder of images into a new index")
    build.add_argument("--run", required=True, help="trained run directory (its model encodes the images)")
    build.add_argument("--images", required=True, help="folder searched recursively for images")
    build.add_argument("--index", required=True, help="index directory to create")
    build.add_argument("--labels", help="label file (UCM-style .txt/.csv/.xlsx), rows matched by file stem")
    build.add_argument("--batch-size", type=int, default=64)
    build.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index at --index")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    build.set_defaults(func=run_build)

    add = sub.add_parser("add", help="encode more images into an existing index")
    add.add_argument("--index", required=True)
    add.add_argument("--images", required=True, nargs="+", help="folders and/or image files")
    add.add_argument("--labels", help="label file, rows matched by file stem")
    add.add_argument("--batch-size", type=int, default=64)
    add.add_argument("--strict", action="store_true")
    add.add_argument("--quiet", action="store_true")
    add.set_defaults(func=run_add)

    remove = sub.add_parser("remove", help="remove items by id or path")
    remove.add_argument("--index", required=True)
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--ids", nargs="+", type=int)
    which.add_argument("--paths", nargs="+")
    remove.set_defaults(func=run_remove)

    info = sub.add_parser("info", help="print what an index holds")
    info.add_argument("--index", required=True)
    info.add_argument("--json", action="store_true")
    info.add_argument("--verify", action="store_true", help="recompute checksums of every item")
    info.set_defaults(func=run_info)


def _check_batch_size(value: int) -> None:
    from mlrsir.errors import ConfigError

    if value < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {value}")


def _fill(index, encoder, paths, args) -> int:
    from mlrsir.index.ingest import encode_into_index, read_labels

    by_name = read_labels(args.labels)[1] if args.labels else None
    summary = encode_into_index(
        index,
        encoder,
        paths,
        labels_by_name=by_name,
        batch_size=args.batch_size,
        strict=args.strict,
        progress=not args.quiet,
    )
    print(
        f"added {summary['added']} images to {index.path} ({len(index)} in total); "
        f"{summary['already_present']} already present; {len(summary['failed'])} failed; "
        f"{summary['images_per_s']:.1f} images/s"
    )
    if summary["unlabelled"]:
        print(f"warning: {summary['unlabelled']} images have no row in {args.labels} (stored without labels)")
    if summary["failed"]:
        print(f"{len(summary['failed'])} images could not be read (listed above as 'skipped')")
    return 0


def run_build(args) -> int:
    from mlrsir.errors import DataError
    from mlrsir.index.ingest import list_images, load_encoder, read_labels
    from mlrsir.index.store import CodeIndex

    _check_batch_size(args.batch_size)
    paths = list_images(args.images)
    if not paths:
        raise DataError(f"{args.images}: no .jpg/.jpeg/.png/.tif/.tiff images found")
    classes = read_labels(args.labels)[0] if args.labels else None  # read early: fail before encoding
    encoder = load_encoder(args.run)
    index = CodeIndex.create(
        args.index,
        bits=encoder.bits,
        fingerprint=encoder.fingerprint,
        run_dir=str(Path(encoder.run_dir).resolve()),
        classes=classes if classes is not None else getattr(encoder, "classes", None),
        images_root=str(Path(args.images).resolve()),
        overwrite=args.overwrite,
    )
    with index:
        print(f"encoding {len(paths)} images from {args.images} with run {args.run} ({encoder.bits} bits)")
        return _fill(index, encoder, paths, args)


def run_add(args) -> int:
    from mlrsir.errors import IndexStoreError
    from mlrsir.index.ingest import expand_inputs, load_encoder
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.fingerprint import check_encoder_compatible

    _check_batch_size(args.batch_size)
    paths = expand_inputs(args.images)
    with CodeIndex.open(args.index) as index:
        if not index.run_dir:
            raise IndexStoreError(f"{index.db_path}: the index records no run directory; cannot encode new images")
        encoder = load_encoder(index.run_dir)
        check_encoder_compatible(encoder, index)
        return _fill(index, encoder, paths, args)


def run_remove(args) -> int:
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index) as index:
        if args.ids:
            ids, missing = list(args.ids), []
        else:
            wanted = [str(Path(p).resolve()) if Path(p).exists() else p for p in args.paths]
            found = index.ids_for_paths(wanted)
            ids = list(found.values())
            missing = [p for p in wanted if p not in found]
        removed = index.remove(ids)
        not_found = (len(set(ids)) - removed) + len(missing)
        print(f"removed {removed} items from {index.path} ({len(index)} left); {not_found} not found")
        for path in missing:
            print(f"not in the index: {path}")
    return 0


def run_info(args) -> int:
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, readonly=True, verify=args.verify) as index:
        info = index.info()
    info["verified"] = bool(args.verify)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    fp = info["fingerprint"] or {}
    print(f"index        {info['path']}")
    print(f"images       {info['count']} ({info['labelled']} with labels), next id {info['next_id']}")
    print(f"codes        {info['bits']} bits ({info['bytes_per_code']} bytes packed)")
    print(f"model        {', '.join(f'{k}={v}' for k, v in fp.items())}")
    print(f"run          {info['run_dir']}")
    print(f"images root  {info['images_root']}")
    print(f"classes      {', '.join(info['classes'] or []) or '-'}")
    print(f"database     {info['database']} ({info['database_bytes']} bytes), format v{info['format_version']}")
    print(
        f"checksum     {info['items_checksum'][:16]}... ({'verified' if args.verify else 'not verified; use --verify'})"
    )
    return 0
