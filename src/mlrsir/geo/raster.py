"""Opening rasters with rasterio, with errors that name the file and the problem.

A :class:`BandSource` is one band of one raster file: what :mod:`mlrsir.geo.tiling`
reads window by window. Any GDAL-readable file works (GeoTIFF, JPEG 2000, VRT, ...).
A raster without georeference is allowed: ``crs`` is None and ``transform`` is
rasterio's identity (pixel units).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from mlrsir.errors import DataError
from mlrsir.geo.hrefs import http_options
from mlrsir.geo.remote import (
    apply_remote_defaults,
    gdal_path,
    is_remote_url,
    read_error_message,
    remote_options,
)
from mlrsir.geo.retry import permanent, with_retries
from mlrsir.paths import not_found_message

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".png")


@dataclass(frozen=True)
class BandSource:
    """One band of one raster file.

    Attributes:
        name: band name (``"B04"``, a description, or ``"1"``, ``"2"`` ...).
        path: the file (or a GDAL path / URL as a string).
        index: 1-based band index inside the file.
        crs: ``rasterio.crs.CRS`` or None (no georeference).
        transform: pixel -> CRS affine transform (identity when not georeferenced).
        width, height: size in pixels.
        dtype: numpy dtype name of the band (``"uint16"`` ...).
        nodata: the file's nodata value or None (no tag).
        aliases: further names usable in a selection (STAC common name, asset key).
    """

    name: str
    path: Path | str
    index: int
    crs: CRS | None
    transform: Affine
    width: int
    height: int
    dtype: str
    nodata: float | None
    aliases: tuple[str, ...] = field(default=())

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    @property
    def pixel_area(self) -> float:
        """``|a * e|`` of the transform: smaller = finer (CRS units squared)."""
        return abs(self.transform.a * self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, xmax, ymax)`` of the whole band in its CRS."""
        return tuple(rasterio.windows.bounds(Window(0, 0, self.width, self.height), self.transform))


def open_raster(path: str | Path):
    """``rasterio.open(path)`` raising DataError (file named) instead of rasterio errors.

    Missing georeference is not an error (the NotGeoreferencedWarning is silenced). A remote
    URL (``http(s)://``, ``s3://``; :mod:`mlrsir.geo.remote`) is opened through its GDAL path
    with the remote settings, which also stay in the process environment for later reads.
    """
    text = str(path)
    is_url = "://" in text or text.startswith("/vsi")
    if not is_url and not Path(text).is_file():
        raise DataError(not_found_message(text, "raster file not found"))
    options = apply_remote_defaults() if is_url else http_options()

    def attempt():
        with warnings.catch_warnings(), rasterio.Env(**options):
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(gdal_path(text))

    try:
        if not is_url:
            return attempt()
        return with_retries(attempt, (RasterioError,), retry_if=lambda exc: not permanent(str(exc)))
    except RasterioError as exc:
        if is_url:
            raise DataError(read_error_message(text, str(exc), options)) from exc
        raise DataError(f"{text}: not a readable raster (corrupt, truncated or unsupported format: {exc})") from exc


def band_sources(path: str | Path, names: list[str] | None = None, aliases=None) -> list[BandSource]:
    """One :class:`BandSource` per band of the file at ``path``.

    Names: ``names`` if given, else the band descriptions when every band has a distinct
    one, else ``"1"``, ``"2"``, ... . The file is checked for truncation by reading its
    last pixel of every band (:func:`check_readable`).
    """
    with open_raster(path) as ds:
        if ds.transform.b != 0 or ds.transform.d != 0:
            raise DataError(f"{path}: rotated or sheared pixel grid ({ds.transform}) is not supported")
        if names is None:
            desc = list(ds.descriptions)
            if all(desc) and len(set(desc)) == len(desc):
                names = [str(d) for d in desc]
            else:
                names = [str(i) for i in range(1, ds.count + 1)]
        if len(names) != ds.count:
            raise DataError(f"{path}: {ds.count} bands but {len(names)} band names given")
        check_readable(ds, path)
        return [
            BandSource(
                name=names[i - 1],
                path=Path(path) if not ("://" in str(path) or str(path).startswith("/vsi")) else str(path),
                index=i,
                crs=ds.crs if ds.crs else None,
                transform=ds.transform,
                width=ds.width,
                height=ds.height,
                dtype=ds.dtypes[i - 1],
                nodata=ds.nodatavals[i - 1],
                aliases=tuple(aliases[i - 1]) if aliases else (),
            )
            for i in range(1, ds.count + 1)
        ]


def check_readable(ds, path) -> None:
    """Read the last pixel of every band: a truncated GeoTIFF fails here (DataError; a remote
    file's read is retried first, :mod:`mlrsir.geo.retry`)."""

    def call():
        return ds.read(window=Window(ds.width - 1, ds.height - 1, 1, 1))

    try:
        with_retries(call, (RasterioError,)) if is_remote_url(str(path)) else call()
    except RasterioError as exc:
        if is_remote_url(str(path)):
            what = "cannot read the last block (a truncated file, or the server failed every retry)"
            raise DataError(read_error_message(str(path), f"{what}: {exc}", remote_options())) from exc
        raise DataError(f"{path}: cannot read the last block - truncated or corrupt raster ({exc})") from exc


def read_band(ds, band: BandSource, window: Window, out_shape: tuple[int, int], resampling) -> np.ndarray:
    """``(out_h, out_w)`` array of ``band.dtype`` read from ``window`` (may be fractional).

    A remote band's failed read is retried (bounded backoff, :mod:`mlrsir.geo.retry`), so a
    transient failure of one tile does not lose its scene. Raises DataError naming the file,
    band and window when GDAL cannot decode it (after the retries).
    """

    def call():
        return ds.read(band.index, window=window, out_shape=out_shape, resampling=resampling)

    try:
        return with_retries(call, (RasterioError,)) if is_remote_url(str(band.path)) else call()
    except RasterioError as exc:
        where = (
            f"cannot read band {band.index} ({band.name}) window "
            f"col={window.col_off:g} row={window.row_off:g} {window.width:g}x{window.height:g}"
        )
        if is_remote_url(str(band.path)):
            raise DataError(read_error_message(str(band.path), f"{where}: {exc}", remote_options())) from exc
        raise DataError(f"{band.path}: {where} - truncated or corrupt raster ({exc})") from exc


class BlockCoverage:
    """Which blocks of one band hold data, from the file's block table (no pixel read).

    A GeoTIFF written sparse (GDAL ``SPARSE_OK``) stores no bytes for blocks never
    written; GDAL reads them as the nodata value (0 without one), so a tile lying only on
    such blocks is empty without reading it. The block table is asked one block row at a
    time (GDAL's ``BLOCK_OFFSET_<col>_<row>`` TIFF metadata, None for an absent block) and
    the last rows are remembered, so memory is one block row per band, whatever size the
    raster declares. For other formats (``known`` False) every block counts as data.

    Attributes:
        block_height, block_width: block shape in pixels.
        block_rows, block_cols: blocks along each axis.
        known: whether the format reports absent blocks (GeoTIFF).
    """

    CACHED_ROWS = 64

    def __init__(self, ds, band_index: int):
        self._ds = ds
        self._band = int(band_index)
        self.block_height, self.block_width = (int(v) for v in ds.block_shapes[band_index - 1])
        self.block_rows = -(-int(ds.height) // self.block_height)
        self.block_cols = -(-int(ds.width) // self.block_width)
        self.known = ds.driver in ("GTiff", "COG")
        self._rows: dict[int, np.ndarray] = {}

    def row(self, block_row: int) -> np.ndarray:
        """``(block_cols,)`` bool: True where block ``(col, block_row)`` holds data."""
        found = self._rows.get(block_row)
        if found is not None:
            return found
        if not self.known:
            found = np.ones(self.block_cols, dtype=bool)
        else:
            get = self._ds.get_tag_item
            found = np.fromiter(
                (bool(get(f"BLOCK_OFFSET_{c}_{block_row}", "TIFF", bidx=self._band)) for c in range(self.block_cols)),
                dtype=bool,
                count=self.block_cols,
            )
        if len(self._rows) >= self.CACHED_ROWS:
            self._rows.pop(next(iter(self._rows)))
        self._rows[block_row] = found
        return found

    def columns_with_data(self, row_start: int, row_stop: int) -> np.ndarray:
        """``(block_cols,)`` bool: blocks of pixel rows ``[row_start, row_stop)`` holding data in any row."""
        out = np.zeros(self.block_cols, dtype=bool)
        row_start, row_stop = max(0, row_start), min(int(self._ds.height), row_stop)
        for block_row in range(row_start // self.block_height, (row_stop - 1) // self.block_height + 1):
            if row_stop > row_start:
                out |= self.row(block_row)
        return out
