"""Filling an index from satellite scenes: tile, map radiometry, encode, add with geo.

Used by ``mlrsir index build|add`` for the inputs :func:`mlrsir.geo.archive.walk_inputs`
classes as scenes (rasters, band folders, STAC Items). For each scene: open it
(:func:`mlrsir.geo.scene.open_scene`), choose the bands (``--bands`` or
:func:`mlrsir.geo.archive.default_bands`), tile it with
:class:`mlrsir.geo.tiling.SceneTiler` (windowed reads, empty tiles skipped and counted),
map each tile through the index's fixed radiometry to 8-bit RGB, encode in batches and
add each chunk atomically with its ``geo`` (the :mod:`mlrsir.geo.georef` dict plus the
band names; ``crs``/``bounds``/``lonlat_bounds`` null without georeference). Item paths
are tile ids ``SCENE_PATH#col,row,width,height``; tiles already in the index are skipped
(an interrupted build resumes with ``index add``).

Radiometry: :func:`index_radiometry` returns the rule stored in the index, or stores one
(the ``--radiometry`` option, else the default for the first scene) the first time a
scene is added; it is never re-estimated.

Bad scenes (missing band file, different CRSs, corrupt/truncated raster, tile larger
than the scene) are reported by name and skipped (``strict``: raised); tiles already
added stay.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.search import public_geo  # noqa: F401  (re-exported)


def index_radiometry(index, scene=None, bands=None, requested=None):
    """The index's :class:`~mlrsir.geo.radiometry.Radiometry`, storing one if none is.

    ``requested`` (a Radiometry or None) must equal the stored rule when one exists.
    """
    from mlrsir.geo.archive import default_radiometry
    from mlrsir.geo.radiometry import Radiometry

    if index.radiometry is not None:
        stored = Radiometry.from_dict(index.radiometry)
        if requested is not None and requested != stored:
            raise ConfigError(
                f"--radiometry {requested.to_dict()}: the index {index.path} already uses {stored.to_dict()} "
                "(the rule is fixed per index)"
            )
        return stored
    if requested is None:
        if scene is None:
            raise ConfigError(f"{index.path}: the index stores no radiometry (no raster scene was indexed)")
        requested = default_radiometry(scene, scene.select(bands))
    index.set_radiometry(requested.to_dict())
    return requested


def stored_geo(info, scene_id: str, datetime: str | None) -> dict:
    """The ``geo`` stored for a tile: its georef dict (or a null-georeference one) + bands."""
    geo = (
        dict(info.geo)
        if info.geo is not None
        else {
            "scene": scene_id,
            "window": list(info.window),
            "crs": None,
            "bounds": None,
            "lonlat_bounds": None,
            "datetime": datetime,
        }
    )
    geo["bands"] = list(info.bands)
    return geo


def encode_scenes_into_index(
    index,
    encoder,
    scenes: list[Path],
    *,
    tile: int = 256,
    stride: int | None = None,
    bands: str | None = None,
    radiometry=None,
    batch_size: int = 64,
    strict: bool = False,
    progress: bool = True,
    log=print,
) -> dict:
    """Tile, encode and add every scene (module doc).

    Returns:
        ``{"scenes", "tiles_added", "already_present", "skipped_empty", "not_georeferenced",
        "failed": [(path, message)], "seconds", "tiles_per_s", "radiometry"}``.
    """
    if tile < 1 or (stride is not None and stride < 1):
        raise ConfigError(f"--tile {tile} / --stride {stride}: must be >= 1")
    out: dict[str, Any] = {
        "scenes": 0,
        "tiles_added": 0,
        "already_present": 0,
        "skipped_empty": 0,
        "not_georeferenced": 0,
        "failed": [],
        "radiometry": None,
    }
    if radiometry is not None and index.radiometry is not None:
        index_radiometry(index, requested=radiometry)  # a different rule than the stored one: refuse first
    chunk = max(1, 4 * int(batch_size))
    start = time.perf_counter()
    for scene_path in scenes:
        try:
            _index_scene(index, encoder, scene_path, out, tile, stride, bands, radiometry, chunk, progress, log)
        except DataError as exc:
            if strict:
                raise
            message = str(exc)
            out["failed"].append((str(scene_path), message))
            log(f"skipped {message}" if message.startswith(str(scene_path)) else f"skipped {scene_path}: {message}")
    seconds = time.perf_counter() - start
    out["seconds"] = seconds
    out["tiles_per_s"] = out["tiles_added"] / seconds if seconds > 0 and out["tiles_added"] else 0.0
    return out


def _index_scene(index, encoder, scene_path, out, tile, stride, bands, radiometry, chunk, progress, log) -> None:
    """Tile, encode and add one scene, updating the counters in ``out``."""
    from tqdm import tqdm

    from mlrsir.geo.archive import selection, tile_id, to_rgb
    from mlrsir.geo.scene import crs_label, open_scene
    from mlrsir.geo.tiling import SceneTiler

    scene = open_scene(scene_path)
    chosen = selection(scene, bands)
    try:
        tiler = SceneTiler(scene, chosen, tile=tile, stride=stride)
    except ConfigError as exc:
        raise DataError(f"{scene_path}: {exc}") from None
    rule = index_radiometry(index, scene, chosen, radiometry)
    out["radiometry"] = rule.to_dict()
    source = str(Path(scene.source).resolve())
    present = index.ids_for_paths([tile_id(source, (w.col_off, w.row_off, w.width, w.height)) for w in tiler.windows()])
    georef = tiler.bands[0].georeferenced
    names = ",".join(b.name for b in tiler.bands)
    crs = crs_label(tiler.bands[0].crs) if georef else "no georeference"
    log(f"scene {scene.scene_id}: {len(tiler)} tiles of {tile} px, bands {names}, {crs}")
    bar = tqdm(total=len(tiler), unit="tile", disable=not progress, desc="tiles", dynamic_ncols=True)
    images, records = [], []
    try:
        for info, arr in tiler:
            bar.update(1)
            path = tile_id(source, info.window)
            if path in present:
                out["already_present"] += 1
                continue
            images.append(to_rgb(arr, rule))
            _c, _r, w, h = info.window
            geo = stored_geo(info, scene.scene_id, scene.datetime)
            records.append({"path": path, "width": w, "height": h, "labels": None, "geo": geo})
            if len(records) >= chunk:
                _add(index, encoder, images, records, out, georef)
                images, records = [], []
        _add(index, encoder, images, records, out, georef)
    finally:
        bar.close()
    out["skipped_empty"] += tiler.skipped
    out["scenes"] += 1
    if tiler.skipped:
        log(f"scene {scene.scene_id}: skipped {tiler.skipped} empty (all 0 / nodata) tiles")


def _add(index, encoder, images, records, out, georef) -> None:
    if not records:
        return
    codes, _ = encoder.encode_images(images)
    index.add(records, codes)
    out["tiles_added"] += len(records)
    out["not_georeferenced"] += 0 if georef else len(records)
