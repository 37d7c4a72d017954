"""``mlrsir index build|add|remove|info``: manage a persistent code index.

* ``build --run RUN_DIR --images DIR --index PATH [--labels FILE] [--batch-size 64]
  [--strict] [--overwrite]``: encode every .jpg/.jpeg/.png/.tif/.tiff under DIR
  (recursive, sorted) with the run's model and store codes, absolute paths, sizes and
  (with ``--labels``, matched by file stem) labels. Unreadable images are reported and
  skipped (``--strict``: stop at the first one).
* ``add --index PATH --images DIR|FILE ...``: same for more images, with the model the
  index was built with; paths already in the index are skipped.
* Satellite scenes (both commands): ``--images`` may also name GDAL-readable rasters
  (GeoTIFF/COG/JP2, any size, single- or multi-band), folders of per-band files
  (Sentinel-2 ``*_B04.tif``, Landsat ``*_B4.TIF``) or local STAC Item ``.json`` files;
  folders are searched for them too (see :mod:`mlrsir.geo.archive` for which files are
  scenes). Scenes are cut into ``--tile PX`` tiles (default 256) every ``--stride PX``
  (default = tile), bands ``--bands B04,B03,B02`` (names or 1-based indices; default the
  RGB bands B4,B3,B2 when the scene has them, else the first 3, or the single band
  repeated), mapped to 8-bit RGB by the index's fixed ``--radiometry`` (stored when the
  first scene is indexed; see :mod:`mlrsir.index.scenes`). Each tile is stored as
  ``SCENE_PATH#col,row,width,height`` with its ``geo``; empty tiles are skipped and counted.
  Remote rasters (``https://host/x.tif``, ``s3://bucket/key.tif``, ``s3://bucket/prefix/``)
  are read in place through GDAL (:mod:`mlrsir.geo.remote`); their SCENE_PATH is the URL.
* ``--stac URL`` (both commands, beside or instead of ``--images``): the Items of a STAC API
  search or a static catalogue walk are scenes, streamed (:mod:`mlrsir.cli.stac_options`,
  :mod:`mlrsir.geo.stac_search`); their SCENE_PATH is the Item's href, and each tile's ``geo``
  keeps the Item's provenance (``geo["stac"]``).
* ``export --index PATH --out FILE.parquet|FILE.npz``: GeoParquet (id, path, code bytes,
  labels, scene, datetime, footprint geometry; null for items without georeference) or
  npz (``ids``, ``paths``, ``codes`` uint8 (n, bits) in {0, 1}, ``labels`` JSON strings).
* ``remove --index PATH (--ids ID ... | --paths PATH ...)``: the rows go at once, the codes
  stay as tombstones (excluded from searches) until the code files are compacted.
* ``compact --index PATH [--ivf] [--ivf-nlist N]``: rewrite the code files without removed
  items (migrates a format 1/2 index to format 3); ``--ivf`` also saves the search structure.
* ``ivf --index PATH [--nlist N] [--rebuild]``: save the IVF search structure beside the
  index (``ivf.<generation>.faiss``), so ``mlrsir serve`` maps it instead of building it.
  ``build``, ``add``, ``remove`` and ``compact`` keep a saved one up to date, and save one
  when the index reaches ``AUTO_SUBLINEAR_MIN`` items (2,000,000: ``auto`` search is IVF).
* ``info --index PATH [--json] [--verify]``.

Exit status of ``build`` and ``add`` (:mod:`mlrsir.cli.exit_status`): 0 every input
indexed, 3 some inputs failed while others were indexed, 2 nothing indexed or an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlrsir.cli.runtime_options import add_runtime_arguments
from mlrsir.text import printable


def register(subparsers) -> None:
    from mlrsir.cli.ingest_options import add_engine_arguments  # light: Ray imported only when used
    from mlrsir.cli.stac_options import add_stac_arguments  # --stac URL (pystac-client imported when used)

    parser = subparsers.add_parser("index", help="build and manage a persistent code index")
    sub = parser.add_subparsers(dest="index_command", metavar="ACTION", required=True)

    from mlrsir.cli.exit_status import EPILOG

    build = sub.add_parser("build", help="encode a folder of images into a new index", epilog=EPILOG)
    build.add_argument("--run", required=True, help="trained run directory (its model encodes the images)")
    add_runtime_arguments(build)
    build.add_argument(
        "--images",
        nargs="+",
        help="folders (searched recursively), image files, rasters, band folders, STAC Item .json files, "
        "or remote rasters: https://.../x.tif, s3://bucket/key.tif, s3://bucket/prefix/ (read in place)",
    )
    build.add_argument("--index", required=True, help="index directory to create")
    build.add_argument("--labels", help="label file (UCM-style .txt/.csv/.xlsx/.mat), rows matched by file stem")
    build.add_argument("--batch-size", type=int, default=64)
    build.add_argument("--strict", action="store_true", help="stop at the first unreadable image or scene")
    build.add_argument("--overwrite", action="store_true", help="replace an existing index at --index")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    _scene_options(build)
    add_stac_arguments(build)
    add_engine_arguments(build)
    build.set_defaults(func=run_build)

    add = sub.add_parser("add", help="encode more images into an existing index", epilog=EPILOG)
    add.add_argument("--index", required=True)
    add.add_argument(
        "--run",
        help="run directory of the index's model (default: the run the index records; give it when the run moved: "
        "its model fingerprint must match the index)",
    )
    add_runtime_arguments(add)
    add.add_argument("--images", nargs="+", help="as for build: folders, files, scenes, https:// or s3:// rasters")
    add.add_argument("--labels", help="label file, rows matched by file stem")
    add.add_argument("--batch-size", type=int, default=64)
    add.add_argument("--strict", action="store_true", help="stop at the first unreadable image or scene")
    add.add_argument("--quiet", action="store_true")
    _scene_options(add)
    add_stac_arguments(add)
    add_engine_arguments(add)
    add.set_defaults(func=run_add)

    export = sub.add_parser("export", help="write every item as GeoParquet (.parquet) or npz (.npz)")
    export.add_argument("--index", required=True)
    export.add_argument("--out", required=True, help="FILE.parquet (GeoParquet) or FILE.npz")
    export.set_defaults(func=run_export)

    remove = sub.add_parser("remove", help="remove items by id or path")
    remove.add_argument("--index", required=True)
    which = remove.add_mutually_exclusive_group(required=True)
    which.add_argument("--ids", nargs="+", type=_item_id, help="item ids (0 .. 2**63-1)")
    which.add_argument("--paths", nargs="+")
    remove.set_defaults(func=run_remove)

    compact = sub.add_parser(
        "compact", help="rewrite the code files without removed items (and migrate an old index format)"
    )
    compact.add_argument("--index", required=True)
    compact.add_argument("--ivf", action="store_true", help="also save the IVF search structure")
    compact.add_argument("--ivf-nlist", type=int, help="IVF cells when it is built (default ~sqrt(n))")
    compact.set_defaults(func=run_compact)

    ivf = sub.add_parser("ivf", help="save the IVF search structure beside the index (fast serve start)")
    ivf.add_argument("--index", required=True)
    ivf.add_argument("--nlist", type=int, help="IVF cells when it is built (default ~sqrt(n))")
    ivf.add_argument("--rebuild", action="store_true", help="build it anew instead of updating a saved one")
    ivf.set_defaults(func=run_ivf)

    info = sub.add_parser("info", help="print what an index holds")
    info.add_argument("--index", required=True)
    info.add_argument("--json", action="store_true")
    info.add_argument("--verify", action="store_true", help="recompute checksums of every item")
    info.set_defaults(func=run_info)

    from mlrsir.cli.index_extras import register_duplicates  # near duplicates

    register_duplicates(sub)


def _scene_options(parser) -> None:
    group = parser.add_argument_group("satellite scenes")
    group.add_argument("--tile", type=int, default=256, help="tile side in pixels of the finest band (default 256)")
    group.add_argument("--stride", type=int, help="step between tiles in pixels (default: the tile size)")
    group.add_argument("--bands", help="3 bands (or 1, repeated) by name or 1-based index, e.g. B04,B03,B02")
    group.add_argument(
        "--radiometry",
        default="auto",
        help="value -> 0..255 rule: auto, sentinel2, landsat8_l1, uint8 or KIND:SCALE:LOW:HIGH "
        "(fixed per index when the first scene is added)",
    )
    group.add_argument(
        "--allow-href-root",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder STAC asset hrefs may point into besides the Item's folder (repeatable)",
    )
    group.add_argument(
        "--allow-remote-hrefs", action="store_true", help="follow http(s)/s3 asset hrefs of local STAC Items"
    )
    group.add_argument(
        "--io-workers",
        type=int,
        default=1,
        metavar="N",
        help="threads reading tiles of a scene while the encoder works (memory: 3 chunks + 2N tiles); "
        "0: read in the encoding thread (default 1; more than 1 was slower on one COG: see docs/remote-archives.md)",
    )


def _item_id(text: str) -> int:
    """argparse type of an item id: an integer in SQLite's range 0 .. 2**63-1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer item id") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{text}: item ids are between 0 and 2**63-1")
    return value


def _check_batch_size(value: int) -> None:
    from mlrsir.errors import ConfigError

    if value < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {value}")


def _fill(index, encoder, paths, args, scenes=()) -> int:
    """Index the image files ``paths`` and the ``scenes``; returns the exit status of
    :mod:`mlrsir.cli.exit_status`."""
    from mlrsir.index.ingest import encode_into_index, read_labels

    failed: list[tuple[str, str]] = []
    succeeded = 0
    stac = getattr(args, "stac_scenes", None)  # --stac: a stream of STAC Items (cli.stac_options)
    for group in ([list(scenes)] if scenes else []) + ([stac] if stac is not None else []):
        from mlrsir.geo.archive import parse_radiometry
        from mlrsir.geo.hrefs import HrefPolicy
        from mlrsir.geo.scene import set_href_policy
        from mlrsir.index.scenes import encode_scenes_into_index

        set_href_policy(
            HrefPolicy(tuple(getattr(args, "allow_href_root", ())), getattr(args, "allow_remote_hrefs", False))
        )

        geo = encode_scenes_into_index(
            index,
            encoder,
            group,
            tile=args.tile,
            stride=args.stride,
            bands=args.bands,
            radiometry=parse_radiometry(args.radiometry),
            batch_size=args.batch_size,
            io_workers=getattr(args, "io_workers", 0),
            **_run_options(args),
        )
        print(
            f"added {geo['tiles_added']} tiles of {geo['scenes']} scene(s) to {printable(index.path)}; "
            f"{geo['already_present']} already present; {geo['skipped_empty']} empty tiles skipped; "
            f"{geo['not_georeferenced']} tiles without georeference (geo = null); "
            f"{len(geo['failed'])} scene(s) failed; {geo['tiles_per_s']:.1f} tiles/s"
        )
        if group is stac and stac.skipped_note():
            print(printable(stac.skipped_note()))
        failed += geo["failed"]
        succeeded += geo["scenes"] + geo["tiles_added"] + geo["already_present"]
    if (scenes or stac is not None) and not paths:
        return _exit_status(succeeded, failed)
    by_name = read_labels(args.labels)[1] if args.labels else None
    if args.engine == "ray":  # Ray Data pipeline, merged into the index here
        from mlrsir.cli.ingest_options import ray_options
        from mlrsir.ingest.ray_engine import encode_into_index_ray

        summary = encode_into_index_ray(
            index,
            encoder.run_dir,
            paths,
            image_size=encoder.image_size,
            options=ray_options(args),
            labels_by_name=by_name,
            **_run_options(args),
        )
    else:
        summary = encode_into_index(
            index, encoder, paths, labels_by_name=by_name, batch_size=args.batch_size, **_run_options(args)
        )
    print(
        f"added {summary['added']} images to {printable(index.path)} ({len(index)} in total); "
        f"{summary['already_present']} already present; {len(summary['failed'])} failed; "
        f"{summary['images_per_s']:.1f} images/s"
    )
    if summary["unlabelled"]:
        print(f"warning: {summary['unlabelled']} images have no row in {args.labels} (stored without labels)")
    failed += summary["failed"]
    succeeded += summary["added"] + summary["already_present"]
    return _exit_status(succeeded, failed)


def _run_options(args) -> dict:
    """``strict`` and ``progress`` of every ingest engine, from ``--strict`` / ``--quiet``."""
    return {"strict": args.strict, "progress": not args.quiet}


FAILED_NAMED = 20
"""Failed inputs named in the closing summary of ``index build|add`` (all are logged as ``skipped``)."""


def _exit_status(succeeded: int, failed: list[tuple[str, str]]) -> int:
    """Name the inputs that failed (at most :data:`FAILED_NAMED`) and return the exit status."""
    from mlrsir.cli.exit_status import ingest_exit_status

    status = ingest_exit_status(succeeded, len(failed))
    if failed:
        what = "nothing indexed" if not succeeded else "the others are indexed"
        print(f"{len(failed)} input(s) could not be indexed ({what}; exit status {status}):")
        for path, _message in failed[:FAILED_NAMED]:
            print(f"  {printable(path)}")
        if len(failed) > FAILED_NAMED:
            print(f"  ... and {len(failed) - FAILED_NAMED} more (each listed above as 'skipped')")
    return status


def run_build(args) -> int:
    from mlrsir.cli.stac_options import open_stac_scenes
    from mlrsir.errors import DataError
    from mlrsir.index.ingest import list_images, load_hashing_encoder, read_labels
    from mlrsir.index.store import CodeIndex

    _check_batch_size(args.batch_size)
    stac = open_stac_scenes(args)  # the landing page is read (and checked) before the index is made
    paths, scenes = _inputs(args.images or [], list_images)
    if not paths and not scenes and stac is None:
        raise DataError(f"{' '.join(args.images)}: no .jpg/.jpeg/.png/.tif/.tiff images or raster scenes found")
    classes = read_labels(args.labels)[0] if args.labels else None  # read early: fail before encoding
    encoder = load_hashing_encoder(
        args.run, runtime=getattr(args, "runtime", "auto"), precision=getattr(args, "precision", "fp32")
    )
    from mlrsir.index import ingest_log

    command = _build_command(args, encoder)
    index = _resumed_build(args, encoder, command)
    if index is None:
        index = CodeIndex.create(
            args.index,
            bits=encoder.bits,
            fingerprint={**encoder.fingerprint, **getattr(encoder, "encoding", {})},  # + runtime, precision
            run_dir=str(Path(encoder.run_dir).resolve()),
            classes=classes if classes is not None else getattr(encoder, "classes", None),
            images_root=_images_root((args.images or [args.stac])[0]),
            overwrite=args.overwrite,
        )
        ingest_log.begin_build(index, command)
    with index:
        what = f"{len(paths)} images" + (f" and {len(scenes)} scene(s)" if scenes else "")
        if args.images:
            print(
                f"encoding {what} from {printable(' '.join(args.images))} with run {printable(args.run)} "
                f"({encoder.bits} bits)"
            )
        if stac is not None:
            print(f"encoding the items of {printable(stac.describe())} with run {printable(args.run)}")
        status = _fill(index, encoder, paths, args, scenes)
        from mlrsir.cli.index_extras import after_fill  # clouds, predicted labels

        after_fill(index, args)
        refresh_search_structure(index)
        if status == 0:  # every input indexed; else the same command retries the ones that failed
            ingest_log.end_build(index)
        return status


def _build_command(args, encoder) -> dict:
    """What makes two ``index build`` commands the same build (:mod:`mlrsir.index.ingest_log`)."""
    from mlrsir.geo.remote import is_remote_url

    stac_options = ("stac", "collections", "bbox", "datetime", "max_cloud", "max_items")
    return {
        "images": [i if is_remote_url(i) else str(Path(i).resolve()) for i in (args.images or [])],
        "stac": {name: str(getattr(args, name, None)) for name in stac_options},
        "run": str(Path(encoder.run_dir).resolve()),
        "labels": str(Path(args.labels).resolve()) if args.labels else None,
        "tile": args.tile,
        "stride": args.stride,
        "bands": args.bands,
        "radiometry": args.radiometry,
    }


def _resumed_build(args, encoder, command: dict):
    """The open index of an interrupted ``index build`` with the same command at ``--index``
    (it continues there: tiles and scenes already stored are skipped), else None (a new index
    is created; an existing finished or different one is refused by the creation)."""
    from mlrsir.errors import IndexStoreError
    from mlrsir.index import ingest_log
    from mlrsir.index.catalogue import DB_NAME
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.fingerprint import check_encoder_compatible

    if args.overwrite or not (Path(args.index) / DB_NAME).is_file():
        return None
    index = CodeIndex.open(args.index)
    try:
        if not ingest_log.resumable(index, command):
            found = ingest_log.build_record(index)
            if found is not None and found.get("state") == "running":
                raise IndexStoreError(
                    f"{args.index}: holds an interrupted build of other inputs or options ({found['command']}); "
                    "continue it with that command (or `mlrsir index add`), or replace it with --overwrite"
                )
            index.close()
            return None
        check_encoder_compatible(encoder, index)
        if ingest_log.build_record(index) is None:
            ingest_log.begin_build(index, command)
    except BaseException:
        index.close()
        raise
    print(f"continuing the interrupted build of {printable(args.index)} ({len(index)} items stored)")
    return index


def refresh_search_structure(index, nlist: int | None = None, force: bool = False, log=print) -> None:
    """Keep the saved IVF of ``index`` up to date (save one from ``AUTO_SUBLINEAR_MIN`` items,
    or always with ``force``); see :mod:`mlrsir.index.saved`."""
    import time

    from mlrsir.index.backends import AUTO_SUBLINEAR_MIN, faiss_available

    if not faiss_available():
        return
    t0 = time.perf_counter()
    tag = index.save_search_structure(nlist=nlist, min_items=0 if force else AUTO_SUBLINEAR_MIN)
    if tag is not None:
        log(
            f"search structure saved: {tag['file']} (IVF, {tag['nlist']} cells, {tag['ntotal']} items, "
            f"{tag['bytes'] / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s"
        )


def run_compact(args) -> int:
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, verify=False) as index:
        check_nlist(args.ivf_nlist, len(index), "--ivf-nlist")
        before = index.format_version
        result = index.compact()
        note = f"; migrated from format {before} to {index.format_version}" if before != index.format_version else ""
        print(
            f"compacted {printable(index.path)}: {result['slots_before']} -> {result['slots_after']} code records "
            f"({len(index)} items) in {result['seconds']:.1f} s{note}"
        )
        refresh_search_structure(index, nlist=args.ivf_nlist, force=args.ivf)
    return 0


def check_nlist(nlist: int | None, items: int, option: str = "--nlist") -> None:
    """An IVF cell count is between 1 and the number of items (ConfigError naming the range)."""
    from mlrsir.errors import ConfigError

    if nlist is not None and not 1 <= nlist <= max(1, items):
        raise ConfigError(
            f"{option} {nlist}: must lie between 1 and the number of items ({items}); "
            "leave it out for the default (~sqrt of the number of items)"
        )


def run_ivf(args) -> int:
    import time

    from mlrsir.errors import IndexStoreError
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, verify=False) as index:
        check_nlist(args.nlist, len(index))
        index.migrate()
        t0 = time.perf_counter()
        tag = index.save_search_structure(nlist=args.nlist, rebuild=args.rebuild)
        if tag is None:
            raise IndexStoreError(f"{index.db_path}: no search structure could be saved")
        print(
            f"saved {tag['file']} beside {printable(index.path)}: IVF, {tag['nlist']} cells, {tag['ntotal']} items, "
            f"{tag['bytes']} bytes, generation {tag['generation']}, {time.perf_counter() - t0:.1f} s"
        )
    return 0


def run_for_index(index, run: str | None) -> str:
    """The run directory whose model encodes for ``index``: ``run`` when given, else the one
    the index records; a missing one is refused with a hint (the run may have moved)."""
    from mlrsir.errors import IndexStoreError

    chosen = run or index.run_dir
    if not chosen:
        raise IndexStoreError(f"{index.db_path}: the index records no run directory; pass --run RUN_DIR")
    if not Path(chosen).is_dir():
        if run:
            raise IndexStoreError(f"{run}: run directory not found (--run)")
        raise IndexStoreError(
            f"{index.db_path}: the index's run directory {chosen} is not found (moved or deleted?); "
            "pass --run RUN_DIR with the same trained run at its new place (its model fingerprint is checked)"
        )
    return str(chosen)


def run_add(args) -> int:
    from mlrsir.cli.stac_options import open_stac_scenes
    from mlrsir.index.ingest import expand_inputs, load_hashing_encoder
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.fingerprint import check_encoder_compatible

    _check_batch_size(args.batch_size)
    stac = open_stac_scenes(args)
    paths, scenes = _inputs(args.images or [], None, expand_inputs)
    with CodeIndex.open(args.index) as index:
        if stac is not None:
            print(f"encoding the items of {printable(stac.describe())}")
        encoder = load_hashing_encoder(
            run_for_index(index, args.run),
            runtime=getattr(args, "runtime", "auto"),
            precision=getattr(args, "precision", "fp32"),
        )
        check_encoder_compatible(encoder, index)
        status = _fill(index, encoder, paths, args, scenes)
        from mlrsir.cli.index_extras import after_fill  # clouds, predicted labels

        after_fill(index, args)
        refresh_search_structure(index)
        return status


def _images_root(first: str) -> str:
    """The index's ``images_root``: the first ``--images`` entry resolved, or as given when it is a URL."""
    from mlrsir.geo.remote import is_remote_url

    return first if is_remote_url(first) else str(Path(first).resolve())


def _inputs(items, list_images=None, expand_inputs=None):
    """``(image paths, scene paths)`` of files and folders (rasterio is a core dependency)."""
    from mlrsir.geo.archive import walk_inputs
    from mlrsir.index.ingest import INDEX_IMAGE_SUFFIXES

    return walk_inputs(items, INDEX_IMAGE_SUFFIXES)


def run_export(args) -> int:
    from mlrsir.index.export import export_index
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, readonly=True) as index:
        summary = export_index(index, args.out)
    print(f"wrote {summary['count']} items ({summary['georeferenced']} with footprints) of {args.index} to {args.out}")
    return 0


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
        print(f"removed {removed} items from {printable(index.path)} ({len(index)} left); {not_found} not found")
        for path in missing:
            print(f"not in the index: {printable(path)}")
        if removed:
            refresh_search_structure(index)
    return 0


def run_info(args) -> int:
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(args.index, readonly=True, verify=args.verify, deep=args.verify) as index:
        info = index.info()
    info["verified"] = bool(args.verify)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    fp = info["fingerprint"] or {}
    print(f"index        {printable(info['path'])}")
    print(f"images       {info['count']} ({info['labelled']} with labels), next id {info['next_id']}")
    print(f"codes        {info['bits']} bits ({info['bytes_per_code']} bytes packed)")
    print(f"model        {', '.join(f'{k}={v}' for k, v in fp.items())}")
    print(f"run          {printable(info['run_dir'])}")
    print(f"images root  {printable(info['images_root'])}")
    print(f"classes      {printable(', '.join(info['classes'] or [])) or '-'}")
    print(f"database     {info['database']} ({info['database_bytes']} bytes), format v{info['format_version']}")
    if "code_files" in info:
        print(
            f"code files   {info['code_files']['codes']} ({info['codes_bytes']} bytes), {info['code_files']['ids']} "
            f"({info['ids_bytes']} bytes); {info['code_slots']} records, {info['tombstones']} removed "
            "(`mlrsir index compact` drops them)"
        )
        found = info.get("saved_search")
        print(
            "search       "
            + (
                f"saved IVF {found['file']} ({found['nlist']} cells, {found['ntotal']} items, generation "
                f"{found['generation']})"
                if found
                else "no saved structure (`mlrsir index ivf` saves one)"
            )
        )
    print(
        f"checksum     {info['items_checksum'][:16]}... ({'verified' if args.verify else 'not verified; use --verify'})"
    )
    return 0
