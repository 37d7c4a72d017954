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

Non-finite values (NaN, +-inf in float rasters) are nodata: they are set to 0 in the
tile array (so no NaN reaches the radiometry or the model).

Empty tiles: a tile where EVERY selected band is entirely 0, nodata or non-finite
(Landsat's zero-filled borders have no nodata tag) is skipped and counted in
``SceneTiler.skipped`` (``skip_empty=False`` yields them too). Tiles lying only on blocks
that a sparse GeoTIFF never wrote (:class:`~mlrsir.geo.raster.BlockCoverage`) are skipped
without being read, a whole tile row at a time, so a tiny file declaring a giant raster
is tiled in time proportional to its written blocks.

Memory: windows are generated lazily, one tile row at a time (:meth:`SceneTiler.iter_windows`;
never listed up front), datasets are opened once per iteration and only one tile per band
is in memory, so RSS does not grow with the scene's declared size, except through GDAL's
process-wide block cache (``GDAL_CACHEMAX``, default 5% of RAM), which the caller may
bound. One tile or query window is at most :data:`MAX_TILE_SIDE` pixels on a side
(:func:`check_window_size`).

Yields ``(TileInfo, array)``: ``array`` is ``(bands, tile, tile)`` of the bands' common
dtype (``uint16`` for Sentinel-2/Landsat DNs; a new array per tile).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio.enums import Resampling
from rasterio.windows import Window

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.georef import tile_geo
from mlrsir.geo.raster import BandSource, BlockCoverage, open_raster, read_band
from mlrsir.geo.scene import Scene, check_same_crs
from mlrsir.geo.tile_check import KEYWORD_NAMES, check_tile_stride

RESAMPLING = {"bilinear": Resampling.bilinear, "nearest": Resampling.nearest, "cubic": Resampling.cubic}

MAX_TILE_SIDE = 4096
"""Largest side (px) of one tile or query window read into memory (3 uint16 bands of
4096 x 4096 px are 96 MiB; their float32 radiometry 192 MiB)."""

RESAMPLING_MARGIN = 2
"""Band pixels around a resampled window that GDAL's kernels may read (sparse-block test)."""


def check_window_size(width: int, height: int, source) -> None:
    """Refuse a window larger than :data:`MAX_TILE_SIDE` on a side (DataError naming ``source``).

    Called wherever a tile or a query window (``SCENE#col,row,width,height``) is read,
    before any pixel buffer is allocated.
    """
    if max(int(width), int(height)) > MAX_TILE_SIDE:
        raise DataError(
            f"{source}: a window of {int(width)}x{int(height)} px is larger than the {MAX_TILE_SIDE}x{MAX_TILE_SIDE} "
            "px read as one tile; use a smaller window (or the whole scene, read as a decimated overview)"
        )


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
    """All 0 or nodata (non-finite values were already set to 0 by :func:`_finite`)."""
    empty = arr == 0
    if nodata is not None and np.isfinite(nodata):
        empty |= arr == nodata
    return bool(empty.all())


def _finite(arr: np.ndarray) -> np.ndarray:
    """``arr`` with NaN / +-inf set to 0 (nodata); integer arrays returned as they are."""
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            arr = arr.copy() if not arr.flags.writeable else arr
            arr[bad] = 0
    return arr


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
        check_tile_stride(tile, stride, KEYWORD_NAMES)
        if resampling not in RESAMPLING:
            raise ConfigError(f"resampling={resampling!r}: expected one of {', '.join(RESAMPLING)}")
        check_window_size(tile, tile, scene.source)
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
        self._count_lock = threading.Lock()  # read_tile may run in several threads (own datasets each)

    def __len__(self) -> int:
        """Tiles in the grid (before empty tiles are skipped)."""
        return len(self.cols) * len(self.rows)

    @contextmanager
    def open_datasets(self) -> Iterator[dict]:
        """``{band path: open rasterio dataset}`` for the selected bands, closed on exit."""
        datasets: dict = {}
        try:
            for band in self.bands:
                if band.path not in datasets:
                    datasets[band.path] = open_raster(band.path)
            yield datasets
        finally:
            for ds in datasets.values():
                ds.close()

    def iter_windows(self) -> Iterator[tuple[int, Window]]:
        """``(grid index, window)`` of every tile that may hold data, row-major, lazily.

        With ``skip_empty``, tiles lying only on blocks a sparse GeoTIFF never wrote (in
        every band) are not yielded and are counted in ``skipped`` (module doc); the rest
        are yielded and decided by their pixels (:meth:`read_tile`).
        """
        cols = np.asarray(self.cols, dtype=np.int64)
        with self.open_datasets() as datasets:
            coverage = [BlockCoverage(datasets[b.path], b.index) for b in self.bands] if self.skip_empty else []
            every = not coverage or not all(c.known for c in coverage)
            for r_pos, row in enumerate(self.rows):
                keep = np.ones(len(cols), dtype=bool) if every else self._tiles_on_data(coverage, row, cols)
                self.skipped += int(len(cols) - keep.sum())
                base = r_pos * len(cols)
                for c_pos in np.flatnonzero(keep):
                    yield base + int(c_pos), Window(int(cols[c_pos]), int(row), self.tile, self.tile)

    def _tiles_on_data(self, coverage: list[BlockCoverage], row: int, cols: np.ndarray) -> np.ndarray:
        """``(len(cols),)`` bool: tiles of grid row ``row`` touching a block with data in some band."""
        g, t = self._grid_transform, self.tile
        keep = np.zeros(len(cols), dtype=bool)
        for band, transform, cover in zip(self.bands, self._transforms, coverage):
            exact = transform == g and band.width == self.grid.width and band.height == self.grid.height
            margin = 0 if exact else RESAMPLING_MARGIN
            ys = (g.f + g.e * np.array([row, row + t]) - transform.f) / transform.e
            r0, r1 = int(np.floor(ys.min())) - margin, int(np.ceil(ys.max())) + margin
            if r1 <= 0 or r0 >= band.height:
                continue
            blocks = cover.columns_with_data(r0, r1)
            if not blocks.any():
                continue
            x0 = (g.c + g.a * cols - transform.c) / transform.a
            x1 = (g.c + g.a * (cols + t) - transform.c) / transform.a
            c0 = np.clip(np.floor(np.minimum(x0, x1)).astype(np.int64) - margin, 0, band.width - 1)
            c1 = np.clip(np.ceil(np.maximum(x0, x1)).astype(np.int64) + margin, 1, band.width)
            first, last = c0 // cover.block_width, (c1 - 1) // cover.block_width
            seen = np.concatenate(([0], np.cumsum(blocks)))
            keep |= (seen[last + 1] - seen[first]) > 0
        return keep

    def read_tile(self, datasets: dict, window: Window) -> np.ndarray | None:
        """``(bands, tile, tile)`` of ``window`` (non-finite values set to 0), or None when
        the tile is empty and ``skip_empty`` (counted in ``skipped``). Thread-safe when each
        thread passes datasets of its own (:meth:`open_datasets`): GDAL handles are not shared."""
        arr = np.empty((len(self.bands), self.tile, self.tile), dtype=self.dtype)
        empty = True
        for i, band in enumerate(self.bands):
            arr[i] = _finite(self._read(datasets[band.path], band, self._transforms[i], window))
            if empty and not _is_empty(arr[i], band.nodata):
                empty = False
        if empty and self.skip_empty:
            with self._count_lock:
                self.skipped += 1
            return None
        return arr

    def tile_info(self, index: int, window: Window) -> TileInfo:
        """The :class:`TileInfo` of the tile at grid position ``index``."""
        geo = tile_geo(self.scene.scene_id, window, self.grid.transform, self.bands[0].crs, self.scene.datetime)
        names = tuple(b.name for b in self.bands)
        return TileInfo(
            self.scene.scene_id, index, (int(window.col_off), int(window.row_off), self.tile, self.tile), names, geo
        )

    def __iter__(self) -> Iterator[tuple[TileInfo, np.ndarray]]:
        with self.open_datasets() as datasets:
            for index, window in self.iter_windows():
                arr = self.read_tile(datasets, window)
                if arr is None:
                    continue
                self.yielded += 1
                yield self.tile_info(index, window), arr

    def read_window(self, window: Window) -> np.ndarray:
        """``(bands, tile, tile)`` of one ``tile x tile`` window of the grid, read like a tile
        (non-finite values set to 0).

        Used to re-read an indexed tile (a query by tile id, a thumbnail).
        """
        check_window_size(window.width, window.height, self.scene.source)
        arr = np.empty((len(self.bands), self.tile, self.tile), dtype=self.dtype)
        with self.open_datasets() as datasets:
            for i, band in enumerate(self.bands):
                arr[i] = _finite(self._read(datasets[band.path], band, self._transforms[i], window))
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
