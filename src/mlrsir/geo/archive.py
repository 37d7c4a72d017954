"""Scenes as index items: which inputs are scenes, default bands and radiometry, tile ids.

The bridge between :mod:`mlrsir.geo` and the code index (:mod:`mlrsir.index.scenes`,
``mlrsir search``, the web app).

Inputs (:func:`classify_input`, :func:`walk_inputs`): a folder holding per-band files (or
whose only subfolder does, e.g. ``<scene>/bands/``), a STAC Item ``.json`` file, or a
raster file that is not a plain image chip is a **scene** (tiled); other image files are
encoded whole, as before. A ``.tif``/``.tiff`` is a plain image chip when it has no
georeference, is 8-bit with 1, 3 or 4 bands (or 16-bit with 1 band, which Pillow reads as
before) and is at most :data:`CHIP_MAX` pixels on each side (UC Merced's 256 x 256 chips);
``.jp2``, ``.vrt`` and ``.img`` files are always scenes.

Default bands (:func:`default_bands`): ``B4,B3,B2`` (red, green, blue of Sentinel-2
``B04,B03,B02`` and Landsat 8 ``B4,B3,B2``; names match ignoring zero padding) when the
scene has all three; STAC common names ``red,green,blue`` when present; else the first 3
bands, or the first band repeated 3 times for 1- or 2-band rasters. A scene with some
but not all of B2/B3/B4 is an error (a band file is missing).

Default radiometry (:func:`default_radiometry`): 8-bit bands: ``uint8`` (values kept);
Landsat-like scenes (a ``BQA`` band, or ``landsat``/``LC08``/``LC8``/``L8`` in the scene
id): ``landsat8_l1``; other integer bands: ``sentinel2`` (reflectance x 10000, the
common convention); floating point: reflectance 0 .. 0.3. The rule is stored once per
index and reused (see :mod:`mlrsir.index.scenes`).

Tile ids: an indexed tile's path is ``SCENE_PATH#col,row,width,height`` (the scene's
absolute source path - raster file, band folder or STAC JSON, or the URL of a remote
raster (:mod:`mlrsir.geo.remote`) - and the tile's pixel
window on the finest band's grid; :func:`tile_id`, :func:`parse_tile_id`).
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo import radiometry as rad
from mlrsir.geo.bands import canonical, parse_selection
from mlrsir.geo.raster import open_raster, read_band
from mlrsir.geo.remote import is_remote_url, remote_inputs
from mlrsir.geo.scene import band_files, open_scene
from mlrsir.geo.tiling import SceneTiler
from mlrsir.paths import broken_link_target, not_found_message

CHIP_MAX = 1024
"""Largest side (px) of a non-georeferenced .tif still treated as a plain image chip."""

SCENE_SUFFIXES = (".jp2", ".vrt", ".img")
TIFF_SUFFIXES = (".tif", ".tiff")
_TILE_ID = re.compile(r"^(?P<scene>.+)#(?P<c>\d+),(?P<r>\d+),(?P<w>\d+),(?P<h>\d+)$")


# ---------------------------------------------------------------------------- inputs
def is_scene_folder(folder: Path) -> bool:
    """True when ``folder`` holds per-band raster files, or its only subfolder does (the
    shared data's ``<scene>/bands/`` layout). A folder with several subfolders is walked,
    so each band folder among them is its own scene."""

    folder = Path(folder)
    try:
        if band_files(folder):
            return True
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
        return len(subs) == 1 and bool(band_files(subs[0]))
    except DataError:
        return True  # e.g. two files for one band: open_scene reports it
    except OSError:
        return False


def classify_input(path: Path) -> str:
    """``"scene"`` or ``"image"`` for one file (module docstring rule)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json" or suffix in SCENE_SUFFIXES:
        return "scene"
    if suffix not in TIFF_SUFFIXES:
        return "image"

    import rasterio  # noqa: PLC0415 (rasterio only on this path)
    from rasterio.errors import NotGeoreferencedWarning, RasterioError  # noqa: PLC0415 (rasterio only on this path)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                pillow_readable = (set(ds.dtypes) == {"uint8"} and ds.count in (1, 3, 4)) or (
                    ds.count == 1 and set(ds.dtypes) <= {"uint16", "int16"}  # 16-bit grey chips, as before
                )
                plain = ds.crs is None and pillow_readable and max(ds.width, ds.height) <= CHIP_MAX
    except RasterioError:
        return "image"  # unreadable: the image path reports it by name
    return "image" if plain else "scene"


def walk_inputs(inputs: list[str | Path], image_suffixes: tuple[str, ...]) -> tuple[list[Path], list[Path | str]]:
    """``(images, scenes)`` (absolute, resolved, order kept, no duplicates) from files and folders.

    Folders are walked recursively in sorted order; a scene folder (:func:`is_scene_folder`)
    is one scene and is not entered. Remote URLs (:func:`mlrsir.geo.remote.remote_inputs`) are
    scenes, kept as URL strings. Raises DataError for a path that does not exist.
    """

    images: list[Path] = []
    scenes: list[Path | str] = []
    seen: set[Path | str] = set()

    def put(p: Path, kind: str) -> None:
        p = p.absolute() if broken_link_target(p) is not None else p.resolve()  # named by the link
        if p not in seen:
            seen.add(p)
            (scenes if kind == "scene" else images).append(p)

    def walk(folder: Path) -> None:
        if is_scene_folder(folder):
            put(folder, "scene")
            return
        for p in sorted(folder.iterdir(), key=lambda q: q.name):
            if p.name.startswith("."):
                continue
            if p.is_dir():
                walk(p)
            elif p.suffix.lower() in image_suffixes or p.suffix.lower() in SCENE_SUFFIXES:
                put(p, classify_input(p))

    for entry in inputs:
        if is_remote_url(entry):
            for url in remote_inputs(str(entry)):
                if url not in seen:
                    seen.add(url)
                    scenes.append(url)
            continue
        item = Path(entry)
        if item.is_dir():
            walk(item)
        elif item.is_file():
            put(item, classify_input(item))
        else:
            raise DataError(not_found_message(item, "no such image file, raster, scene folder or STAC Item"))
    return images, scenes


# ---------------------------------------------------------------------------- defaults
def default_bands(scene) -> list[str | int]:
    """Band selection used when ``--bands`` is not given (module docstring)."""
    keys = [canonical(n) for n in scene.band_names]
    rgb = ["B4", "B3", "B2"]
    present = [k for k in rgb if k in keys]
    if len(present) == 3:
        return ["B4", "B3", "B2"]
    if present:
        missing = [k for k in rgb if k not in keys]
        raise DataError(
            f"{scene.source}: band file(s) {', '.join(missing)} missing from the scene (found "
            f"{', '.join(scene.band_names)}); add them or choose bands with --bands"
        )
    aliases = [{canonical(b.name)} | {canonical(a) for a in b.aliases} for b in scene.bands]
    if all(any(c in a for a in aliases) for c in ("RED", "GREEN", "BLUE")):
        return ["red", "green", "blue"]
    n = len(scene.bands)
    return [1, 2, 3] if n >= 3 else [1, 1, 1]


def default_radiometry(scene, bands) -> rad.Radiometry:
    """Radiometry used when none is stored or given (module docstring)."""
    dtypes = {np.dtype(b.dtype) for b in bands}
    if dtypes == {np.dtype("uint8")}:
        return rad.UINT8
    if any(d.kind == "f" for d in dtypes):
        return rad.Radiometry("reflectance", 1.0, 0.0, 0.3)
    sid = scene.scene_id.lower()
    if "BQA" in {canonical(n) for n in scene.band_names} or any(
        t in sid for t in ("landsat", "lc08", "lc8", "l8_", "lc09")
    ):
        return rad.LANDSAT8_L1_DN
    return rad.SENTINEL2_L1C


def parse_radiometry(text: str | None) -> rad.Radiometry | None:
    """``--radiometry``: a preset name (``sentinel2``, ``landsat8_l1``, ``uint8``) or
    ``KIND:SCALE:LOW:HIGH`` (e.g. ``dn:1:0:4000``); None/``auto`` -> None."""
    if text is None or text == "auto":
        return None
    if text in rad.PRESETS:
        return rad.PRESETS[text]
    parts = text.split(":")
    if len(parts) != 4:
        raise ConfigError(
            f"--radiometry {text!r}: expected auto, {', '.join(rad.PRESETS)} or KIND:SCALE:LOW:HIGH (e.g. dn:1:0:4000)"
        )
    try:
        return rad.Radiometry(parts[0], float(parts[1]), float(parts[2]), float(parts[3]))
    except ValueError:
        raise ConfigError(f"--radiometry {text!r}: SCALE, LOW and HIGH must be numbers") from None


# ---------------------------------------------------------------------------- tiles
def tile_id(scene_source: Path | str, window) -> str:
    """``SCENE_PATH#col,row,width,height``."""
    c, r, w, h = (int(v) for v in window)
    return f"{scene_source}#{c},{r},{w},{h}"


def scene_key(scene_name: str, scene_source: Path | str) -> str:
    """URL-safe id of a scene, unique per source: ``NAME-HASH8`` where NAME is the scene name
    (file stem, folder name or STAC id) with every character outside ``[A-Za-z0-9._-]`` as ``_``
    and HASH8 the first 8 hex digits of the SHA-1 of the scene's absolute source path (so two
    ``scene.tif`` in different folders, or a STAC id holding ``/``, get distinct, path-free ids)."""

    slug = re.sub(r"[^A-Za-z0-9._-]", "_", str(scene_name)).strip(".") or "scene"
    return f"{slug[:80]}-{hashlib.sha1(str(scene_source).encode('utf-8')).hexdigest()[:8]}"


def parse_tile_id(text: str) -> tuple[str, tuple[int, int, int, int]] | None:
    """``(scene path, (col, row, width, height))`` of a tile id, or None when ``text`` is not one."""
    m = _TILE_ID.match(str(text))
    if not m:
        return None
    return m.group("scene"), (int(m.group("c")), int(m.group("r")), int(m.group("w")), int(m.group("h")))


def to_rgb(arr: np.ndarray, rule: rad.Radiometry) -> Image.Image:
    """``(3, H, W)`` band values -> RGB PIL image through ``rule``."""
    return Image.fromarray(np.ascontiguousarray(np.moveaxis(rule.to_uint8(arr), 0, -1)), "RGB")


def selection(scene, bands) -> list[str | int]:
    """The 3 band tokens for ``scene``: ``bands`` (1 token is repeated) or :func:`default_bands`."""

    tokens: list[str | int] = (parse_selection(bands) or []) if bands else default_bands(scene)
    if len(tokens) == 1:
        tokens = tokens * 3
    if len(tokens) != 3:
        raise ConfigError(f"--bands {bands!r}: choose 1 or 3 bands (the model takes RGB)")
    return tokens


def open_scene_cached(scene_path: str):
    """:func:`mlrsir.geo.scene.open_scene`, remembered for the 16 latest scenes (keyed by path
    and modification time), so re-reading many tiles of one scene opens its files once."""

    try:
        mtime = os.stat(scene_path).st_mtime_ns
    except OSError:
        mtime = None
    return _open_scene(str(scene_path), mtime)


@lru_cache(maxsize=16)
def _open_scene(scene_path: str, _mtime):

    return open_scene(scene_path)


def read_tile(scene_path: str, window, bands, rule: rad.Radiometry, resampling: str = "bilinear") -> Image.Image:
    """RGB image of one tile window of a scene, read windowed and mapped by ``rule``."""
    from rasterio.windows import Window  # noqa: PLC0415 (rasterio only on this path)

    scene = open_scene_cached(scene_path)
    c, r, w, h = (int(v) for v in window)
    tiler = SceneTiler(scene, selection(scene, bands), tile=max(w, h), resampling=resampling, skip_empty=False)
    if c + w > tiler.grid.width or r + h > tiler.grid.height:
        raise DataError(
            f"{scene_path}: window {c},{r},{w},{h} lies outside the {tiler.grid.width}x{tiler.grid.height} scene"
        )
    return to_rgb(tiler.read_window(Window(c, r, w, h)), rule)


def read_overview(scene_path: str, bands, rule: rad.Radiometry, max_side: int = 1024) -> tuple[Image.Image, dict]:
    """Decimated RGB of a whole scene (GDAL uses overviews when the file has them).

    Returns ``(image, info)``; ``info`` has the finest grid's ``width``, ``height`` (pixels)
    so windows can be drawn on the image (scale = image width / grid width).
    """
    from rasterio.enums import Resampling  # noqa: PLC0415 (rasterio only on this path)

    scene = open_scene(scene_path)
    chosen = scene.select(selection(scene, bands))
    grid = min(chosen, key=(lambda b: b.pixel_area) if chosen[0].georeferenced else (lambda b: -b.width * b.height))
    scale = min(1.0, max_side / max(grid.width, grid.height))
    out = (max(1, round(grid.height * scale)), max(1, round(grid.width * scale)))
    from rasterio.windows import Window  # noqa: PLC0415 (rasterio only on this path)

    planes = []
    for band in chosen:
        with open_raster(band.path) as ds:
            planes.append(read_band(ds, band, Window(0, 0, band.width, band.height), out, Resampling.average))
    arr = np.stack(planes)
    return to_rgb(arr, rule), {"width": grid.width, "height": grid.height}
