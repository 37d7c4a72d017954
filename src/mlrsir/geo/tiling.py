"""Tiling a scene into fixed-size tiles, reading only each tile's window from each band.

Grid: tiles of ``tile x tile`` pixels of the FINEST selected band (smallest pixel area;
the first such band on ties; for rasters without georeference, the one with most
pixels), top-left origins every ``stride`` pixels (default ``stride = tile``),
row-major order.

Partial last row/column rule: when the scene size is not ``k * stride + tile``, one more
tile is added whose origin is shifted back so that it ends exactly at the scene edge
(``origin = size - tile``). Every tile is full size and the whole scene is covered; the
last tile overlaps its neighbour. A scene smaller than one tile is an error
(ConfigError). Tile origins along an axis of ``size`` pixels are therefore
``range(0, size - tile + 1, stride)`` plus ``size - tile`` when not already present
(:func:`tile_origins`).

Coarser bands (e.g. Sentinel-2 20 m / 60 m onto the 10 m grid) are resampled onto the
tile's pixels with BILINEAR interpolation (right for reflectance; pass
``resampling="nearest"`` for class/quality bands such as Landsat BQA). The source window
is computed from the tile's *bounds* in the band's own grid (fractional offsets; never by
dividing pixel indices), so grids offset from the finest one (Sentinel-2's 20/60 m grids
start 10 m from the 10 m grid) line up. Tile pixels whose centres fall outside a coarser
band's extent (a few edge rows/columns) take the nearest edge value of that band
(edge replication); where a band does not cover the tile at all, they are 0.

Empty tiles: a tile where EVERY selected band is entirely 0 or nodata (Landsat's
zero-filled borders have no nodata tag) is skipped and counted in
``SceneTiler.skipped`` (``skip_empty=False`` yields them too).

Memory: datasets are opened once per iteration and only one tile per band is in memory,
so RSS does not grow with scene size, except through GDAL's process-wide block cache
(``GDAL_CACHEMAX``, default 5% of RAM), which the caller may bound.

Yields ``(TileInfo, array)``: ``array`` is ``(bands, tile, tile)`` of the bands' common
dtype (``uint16`` for Sentinel-2/Landsat DNs; a new array per tile).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from mlrsir.errors import ConfigError
from mlrsir.geo.georef import tile_geo
from mlrsir.geo.raster import BandSource, open_raster, read_band
from mlrsir.geo.scene import Scene, check_same_crs

RESAMPLING = {"bilinear": Resampling.bilinear, "nearest": Resampling.nearest, "cubic": Resampling.cubic}


@dataclass(frozen=True)
class TileInfo:
    """Where a tile lies.

    Attributes:
        scene: scene id.
        index: running number of the tile in the grid (skipped tiles included).
        window: ``(col, row, width, height)`` on the finest band's pixel grid.
        bands: names of the bands, in array order.
        geo: the :mod:`mlrsir.geo.georef` dict, or None without georeference.
    """

    scene: str
    index: int
    window: tuple[int, int, int, int]
    bands: tuple[str, ...]
    geo: dict | None


def tile_origins(size: int, tile: int, stride: int) -> list[int]:
    """Tile origins along one axis (module docstring rule: last tile shifted to the edge)."""
    if tile > size:
        raise ConfigError(f"tile {tile} px is larger than the scene ({size} px along one axis)")
    origins = list(range(0, size - tile + 1, stride))
    if origins[-1] != size - tile:
        origins.append(size - tile)
    return origins


def _is_empty(arr: np.ndarray, nodata) -> bool:
    empty = arr == 0
    if nodata is not None:
        empty |= np.isnan(arr) if np.isnan(nodata) else (arr == nodata)
    return bool(empty.all())


class SceneTiler:
    """Iterate over the tiles of ``scene`` (module docstring for the rules).

    Args:
        scene: an opened :class:`~mlrsir.geo.scene.Scene`, or a list of BandSources.
        bands: band selection (names / 1-based indices, None = all).
        tile: tile side in pixels of the finest band.
        stride: step between tile origins (default ``tile``).
        resampling: ``"bilinear"`` (default, reflectance), ``"nearest"`` or ``"cubic"``.
        skip_empty: skip tiles that are 0/nodata in all bands (counted in ``skipped``).

    After (or during) iteration: ``yielded`` and ``skipped`` count tiles.
    """

    def __init__(
        self,
        scene: Scene,
        bands=None,
        tile: int = 256,
        stride: int | None = None,
        resampling: str = "bilinear",
        skip_empty: bool = True,
    ):
        if tile < 1 or (stride is not None and stride < 1):
            raise ConfigError(f"tile={tile}, stride={stride}: must be >= 1")
        if resampling not in RESAMPLING:
            raise ConfigError(f"resampling={resampling!r}: expected one of {', '.join(RESAMPLING)}")
        self.scene = scene
        self.bands: list[BandSource] = scene.select(bands)
        check_same_crs(self.bands)
        self.tile = int(tile)
        self.stride = int(stride or tile)
        self.resampling = RESAMPLING[resampling]
        self.skip_empty = skip_empty
        georef = self.bands[0].georeferenced
        key = (lambda b: b.pixel_area) if georef else (lambda b: -b.width * b.height)
        self.grid = min(self.bands, key=key)
        # Pixel->grid transforms used to align bands. Without georeference every band is
        # taken to cover the same extent as the finest one (pixel units of the finest).
        if georef:
            self._transforms = [b.transform for b in self.bands]
            self._grid_transform = self.grid.transform
        else:
            self._grid_transform = Affine.identity()
            self._transforms = [
                Affine.scale(self.grid.width / b.width, self.grid.height / b.height) for b in self.bands
            ]
        self.cols = tile_origins(self.grid.width, self.tile, self.stride)
        self.rows = tile_origins(self.grid.height, self.tile, self.stride)
        self.dtype = np.result_type(*[np.dtype(b.dtype) for b in self.bands])
        self.yielded = 0
        self.skipped = 0

    def __len__(self) -> int:
        """Tiles in the grid (before empty tiles are skipped)."""
        return len(self.cols) * len(self.rows)

    def windows(self) -> list[Window]:
        """All tile windows on the finest grid, row-major."""
        return [Window(c, r, self.tile, self.tile) for r in self.rows for c in self.cols]

    def __iter__(self) -> Iterator[tuple[TileInfo, np.ndarray]]:
        datasets = {}
        try:
            for band in self.bands:
                if band.path not in datasets:
                    datasets[band.path] = open_raster(band.path)
            names = tuple(b.name for b in self.bands)
            georef = self.bands[0].crs
            for index, window in enumerate(self.windows()):
                arr = np.empty((len(self.bands), self.tile, self.tile), dtype=self.dtype)
                empty = True
                for i, band in enumerate(self.bands):
                    arr[i] = self._read(datasets[band.path], band, self._transforms[i], window)
                    if empty and not _is_empty(arr[i], band.nodata):
                        empty = False
                if empty and self.skip_empty:
                    self.skipped += 1
                    continue
                geo = tile_geo(self.scene.scene_id, window, self.grid.transform, georef, self.scene.datetime)
                info = TileInfo(
                    self.scene.scene_id,
                    index,
                    (int(window.col_off), int(window.row_off), self.tile, self.tile),
                    names,
                    geo,
                )
                self.yielded += 1
                yield info, arr
        finally:
            for ds in datasets.values():
                ds.close()

    def read_window(self, window: Window) -> np.ndarray:
        """``(bands, tile, tile)`` of one ``tile x tile`` window of the grid, read like a tile.

        Used to re-read an indexed tile (a query by tile id, a thumbnail).
        """
        arr = np.empty((len(self.bands), self.tile, self.tile), dtype=self.dtype)
        datasets = {}
        try:
            for i, band in enumerate(self.bands):
                if band.path not in datasets:
                    datasets[band.path] = open_raster(band.path)
                arr[i] = self._read(datasets[band.path], band, self._transforms[i], window)
        finally:
            for ds in datasets.values():
                ds.close()
        return arr

    def _read(self, ds, band: BandSource, transform: Affine, window: Window) -> np.ndarray:
        """``(tile, tile)`` of ``band`` on the grid pixels of ``window``."""
        t = self.tile
        if transform == self._grid_transform and band.width == self.grid.width and band.height == self.grid.height:
            return read_band(ds, band, window, (t, t), Resampling.nearest)
        g = self._grid_transform
        # Centres of the tile's grid pixels, in the band's fractional pixel coordinates.
        xs = g.c + g.a * (window.col_off + np.arange(t) + 0.5)
        ys = g.f + g.e * (window.row_off + np.arange(t) + 0.5)
        bc = (xs - transform.c) / transform.a
        br = (ys - transform.f) / transform.e
        cin = np.flatnonzero((bc >= 0) & (bc <= band.width))
        rin = np.flatnonzero((br >= 0) & (br <= band.height))
        if cin.size == 0 or rin.size == 0:
            return np.zeros((t, t), dtype=band.dtype)
        c0, c1, r0, r1 = int(cin[0]), int(cin[-1]) + 1, int(rin[0]), int(rin[-1]) + 1
        # Bounds of the covered sub-window, then its fractional window in the band's grid.
        x0, x1 = g.c + g.a * (window.col_off + c0), g.c + g.a * (window.col_off + c1)
        y0, y1 = g.f + g.e * (window.row_off + r0), g.f + g.e * (window.row_off + r1)
        col_a, col_b = sorted(((x0 - transform.c) / transform.a, (x1 - transform.c) / transform.a))
        row_a, row_b = sorted(((y0 - transform.f) / transform.e, (y1 - transform.f) / transform.e))
        col_a, row_a = max(col_a, 0.0), max(row_a, 0.0)
        col_b, row_b = min(col_b, float(band.width)), min(row_b, float(band.height))
        sub = read_band(
            ds, band, Window(col_a, row_a, col_b - col_a, row_b - row_a), (r1 - r0, c1 - c0), self.resampling
        )
        if (c0, r0, c1, r1) == (0, 0, t, t):
            return sub
        return np.pad(sub, ((r0, t - r1), (c0, t - c1)), mode="edge")


def iter_tiles(
    scene: Scene, bands=None, tile: int = 256, stride: int | None = None, **options
) -> Iterator[tuple[TileInfo, np.ndarray]]:
    """Shortcut: ``iter(SceneTiler(scene, bands, tile, stride, **options))``."""
    return iter(SceneTiler(scene, bands, tile, stride, **options))


def band_names(bands: Sequence[BandSource]) -> list[str]:
    return [b.name for b in bands]
