"""Uploaded TIFF rasters (GeoTIFF chips, 16-bit or multi-band) read as ``mlrsir search --query`` reads them.

A TIFF that :func:`mlrsir.geo.archive.classify_input` calls a *scene* (georeferenced, not
8-bit 1/3/4-band, or larger than a chip) is read by rasterio through
:func:`mlrsir.inference.search.read_raster_image` with the index's stored radiometry and the
default band selection, exactly the CLI's path, so a chip cut from an indexed scene gets
the code of its tile. Other TIFFs (plain 8-bit images) stay with Pillow
(:func:`mlrsir.web.imaging.decode_upload`), as the CLI reads them.

The bytes are written to a private temporary folder for rasterio (GDAL reads files) and
removed right after; the declared size is checked against the pixel cap before any pixel
is read, and messages name the upload, never the temporary path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from PIL import Image

from mlrsir.data.images import ImageTooLargeError
from mlrsir.errors import DataError
from mlrsir.geo.archive import classify_input
from mlrsir.geo.raster import open_raster
from mlrsir.inference.search import read_raster_image

TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
"""First bytes of classic and BigTIFF files, little- and big-endian."""

PILLOW_DTYPES = {"uint8"}
PILLOW_BAND_COUNTS = (1, 3, 4)


def is_tiff(data: bytes) -> bool:
    """Whether ``data`` starts like a TIFF (whatever the client's file name says)."""
    return data[:4] in TIFF_SIGNATURES


def read_raster_upload(data: bytes, name: str, radiometry: dict | None, max_pixels: int | None) -> Image.Image | None:
    """RGB image of an uploaded TIFF raster, or None when Pillow should decode it (module doc).

    Args:
        data: the uploaded bytes (a TIFF, :func:`is_tiff`).
        name: the client's file name, used in messages only.
        radiometry: the index's stored radiometry (None: the index holds no raster scene).
        max_pixels: largest declared raster size in pixels (:class:`ImageTooLargeError` above).

    Raises:
        DataError: the raster needs a radiometry the index does not have, or cannot be read.
        ImageTooLargeError: more pixels than ``max_pixels``.
    """
    with tempfile.TemporaryDirectory(prefix="mlrsir-upload-") as folder:
        path = Path(folder) / "upload.tif"
        path.write_bytes(data)
        try:
            if classify_input(path) != "scene":
                return None
            with open_raster(path) as ds:
                width, height, count, dtypes = ds.width, ds.height, ds.count, set(ds.dtypes)
            if max_pixels is not None and width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: image too large: {width}x{height} = {width * height} pixels to decode, "
                    f"the limit is {max_pixels} ({max_pixels / 1e6:.0f} megapixels)"
                )
            if radiometry is None:
                if dtypes <= PILLOW_DTYPES and count in PILLOW_BAND_COUNTS:
                    return None  # an 8-bit georeferenced image: Pillow reads it as before
                raise DataError(
                    f"{name}: a {'/'.join(sorted(dtypes))} raster with {count} band(s) needs the index's radiometry "
                    "to map it to RGB, but this index holds no raster scene; upload an 8-bit RGB image"
                )
            image = read_raster_image(str(path), radiometry)
        except DataError as exc:
            raise type(exc)(str(exc).replace(str(path), name)) from None
    image.info["original_size"] = (width, height)
    return image
