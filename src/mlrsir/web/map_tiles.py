"""Web Mercator XYZ map tiles of an indexed scene, rendered by rio-tiler.

A tile ``z/x/y`` (256 x 256 px, the OSM / Google tiling of EPSG:3857, ``y`` counted from
the north) is read from the scene's three display bands with ``rio_tiler.io.Reader.tile``
(nearest resampling, the files' overviews chosen by GDAL for the tile's resolution), mapped
to 0..255 by the index's fixed radiometry (:meth:`mlrsir.geo.radiometry.Radiometry.to_uint8`,
the rule of the quick-looks and of the indexed tiles) and written as an RGBA PNG whose alpha
is 0 where any band has no data: outside the scene's raster, or on its nodata pixels. A tile
that does not meet the scene is one fully transparent PNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from rasterio.errors import RasterioError

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.radiometry import Radiometry
from mlrsir.geo.raster import BandSource
from mlrsir.web import imaging

try:  # at import, once: a first import from several server threads at a time fails half-initialised
    from rio_tiler.errors import RioTilerError, TileOutsideBounds
    from rio_tiler.io import Reader
except ImportError as exc:  # optional: mlrsir[map]
    Reader = None
    _RIO_TILER_MISSING: ImportError | None = exc
else:
    _RIO_TILER_MISSING = None

TILE_SIZE = 256
"""Side of a map tile in pixels."""

MAX_ZOOM = 24
"""Largest zoom level served (about 1 cm per pixel at the equator)."""


def check_tile(z: int, x: int, y: int) -> None:
    """ConfigError (HTTP 400) unless ``0 <= z <= MAX_ZOOM`` and ``0 <= x, y < 2**z``."""
    if not 0 <= z <= MAX_ZOOM:
        raise ConfigError(f"tile {z}/{x}/{y}: zoom z must lie in 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ConfigError(f"tile {z}/{x}/{y}: x and y must lie in 0..{n - 1} at zoom {z}")


def _transparent_png() -> bytes:
    return imaging.png_bytes(Image.new("RGBA", (TILE_SIZE, TILE_SIZE), (0, 0, 0, 0)))


TRANSPARENT_PNG = _transparent_png()
"""The PNG of a tile outside the scene (every pixel ``(0, 0, 0, 0)``)."""


def tile_rgba(bands: Sequence[BandSource], rule: Radiometry, z: int, x: int, y: int) -> np.ndarray | None:
    """``(256, 256, 4)`` uint8 RGBA of tile ``z/x/y`` of the display ``bands`` (red, green,
    blue; a band may repeat), or None when the tile does not meet the scene.

    RGB is ``rule.to_uint8`` of the band values (0 where alpha is 0); alpha is 255 where
    every band has data. Raises DataError naming the file when a band cannot be read.
    """
    if Reader is None:
        raise ConfigError(f"map tiles need rio-tiler: pip install 'mlrsir[map]' ({_RIO_TILER_MISSING})")

    check_tile(z, x, y)
    by_file: dict[str, list[int]] = {}
    for band in bands:
        by_file.setdefault(str(band.path), []).append(int(band.index))
    planes: dict[tuple[str, int], np.ndarray] = {}
    valid = np.ones((TILE_SIZE, TILE_SIZE), dtype=bool)
    for path, indexes in by_file.items():
        wanted = tuple(dict.fromkeys(indexes))
        try:
            with Reader(path) as src:
                if not src.tile_exists(x, y, z):
                    return None
                image = src.tile(x, y, z, tilesize=TILE_SIZE, indexes=wanted)
        except TileOutsideBounds:
            return None
        except (RasterioError, RioTilerError, OSError) as exc:
            raise DataError(f"{path}: cannot render map tile {z}/{x}/{y} ({exc})") from exc
        values = np.ma.getdata(image.array)
        valid &= ~np.ma.getmaskarray(image.array).any(axis=0)
        for position, index in enumerate(wanted):
            planes[(path, index)] = values[position]
    stacked = np.stack([planes[(str(b.path), int(b.index))] for b in bands])
    rgb = np.moveaxis(rule.to_uint8(stacked), 0, -1)
    rgba = np.zeros((TILE_SIZE, TILE_SIZE, 4), dtype=np.uint8)
    rgba[..., :3] = np.where(valid[..., None], rgb, 0)
    rgba[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    return rgba


def tile_png(bands: Sequence[BandSource], rule: Radiometry, z: int, x: int, y: int) -> bytes:
    """PNG of :func:`tile_rgba` (:data:`TRANSPARENT_PNG` for a tile outside the scene)."""
    rgba = tile_rgba(bands, rule, z, x, y)
    if rgba is None or not rgba[..., 3].any():
        return TRANSPARENT_PNG
    return imaging.png_bytes(Image.fromarray(rgba, "RGBA"))
