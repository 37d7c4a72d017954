"""Image helpers of the web app: decode uploads, make thumbnails and attention overlays.

Everything here works on in-memory bytes or PIL images; nothing is written to disk.
Decoding itself is :mod:`mlrsir.data.images` (the one image decoder); this module adds
the upload-specific parts (client file names in messages) and the response encodings.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.data.images import decode_rgb
from mlrsir.errors import DataError
from mlrsir.web.raster_uploads import is_tiff, read_raster_upload

THUMBNAIL_SIZE = 256
"""Longest side of a thumbnail in pixels."""

ATTENTION_SIZE = 384
"""Longest side of the attention overlay in pixels."""

BROWSER_FORMATS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
"""Files with these suffixes are served as they are; others are converted to PNG."""


MAX_UPLOAD_PIXELS = 40_000_000
"""Default largest decoded upload (40 megapixels, ``mlrsir serve --max-upload-megapixels``),
well below Pillow's bomb limit (~89 MP): one 40 MP RGB decode takes ~120 MB. JPEGs are
decoded at reduced scale first (below), so this bites on PNG/TIFF/WebP uploads."""

MAX_CONCURRENT_DECODES = 2
"""Default number of uploads decoded at once (``mlrsir serve --max-concurrent-decodes``);
others wait up to :data:`DECODE_WAIT_S` for a slot, then get 503."""

DECODE_WAIT_S = 60.0

WORKING_SIZE = 1024
"""Longest side of an upload after decoding: JPEGs are decoded at 1/2..1/8 scale down to
no less than this (``Image.draft``) and larger results are shrunk to it. The model input
(~100-224 px) and the attention overlay (384 px) need no more; an upload larger than
this can therefore give a code slightly different from the same file read from disk."""

TRIM_AFTER_PIXELS = 4_000_000
"""After decoding an image of more pixels than this, hand freed memory back to the OS."""


class ServerBusy(RuntimeError):
    """No decode slot became free in time (HTTP 503)."""


def _load_malloc_trim():
    """glibc's ``malloc_trim`` (returns freed heap memory to the OS), or None elsewhere."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_MALLOC_TRIM = _load_malloc_trim()


def release_memory() -> None:
    """Return freed memory to the OS where the C library allows it (glibc ``malloc_trim(0)``)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


class UploadDecoder:
    """Decodes uploads with bounded memory: a pixel cap, reduced-scale JPEG decoding,
    at most ``max_concurrent`` decodes at once, and the large buffers freed right after.

    Args:
        max_pixels: largest decoded image in pixels; larger ones raise
            :class:`~mlrsir.data.images.ImageTooLargeError` (413).
        max_concurrent: decodes running at once; others wait up to ``wait_s`` seconds,
            then :class:`ServerBusy` (503).
        working_size: longest side of the returned image (see :data:`WORKING_SIZE`).
    """

    def __init__(
        self,
        max_pixels: int = MAX_UPLOAD_PIXELS,
        max_concurrent: int = MAX_CONCURRENT_DECODES,
        *,
        working_size: int = WORKING_SIZE,
        wait_s: float = DECODE_WAIT_S,
    ):
        if max_pixels < 1 or max_concurrent < 1:
            raise ValueError("max_pixels and max_concurrent must be >= 1")
        self.max_pixels = int(max_pixels)
        self.max_concurrent = int(max_concurrent)
        self.working_size = int(working_size)
        self.wait_s = float(wait_s)
        self._slots = threading.BoundedSemaphore(self.max_concurrent)

    def __call__(self, data: bytes, filename: str | None, radiometry: dict | None = None) -> Image.Image:
        """Decode an upload (see :func:`decode_upload`; TIFF rasters through
        :func:`mlrsir.web.raster_uploads.read_raster_upload` with the index's ``radiometry``);
        the result's ``info["original_size"]`` is the size the file declares."""
        if not self._slots.acquire(timeout=self.wait_s):
            raise ServerBusy(f"server busy: {self.max_concurrent} uploads are being decoded, try again shortly")
        decoded_pixels = 0
        try:
            image = None
            if is_tiff(data):
                image = read_raster_upload(data, _upload_name(filename), radiometry, self.max_pixels)
            if image is None:
                image = decode_upload(data, filename, max_pixels=self.max_pixels, draft_size=self.working_size)
            decoded_pixels = image.width * image.height
            if max(image.size) > self.working_size:
                small = image.copy()
                small.thumbnail((self.working_size, self.working_size), Image.Resampling.BILINEAR)
                small.info["original_size"] = image.info.get("original_size", image.size)
                image.close()
                image = small
            return image
        finally:
            self._slots.release()
            if decoded_pixels > TRIM_AFTER_PIXELS:
                release_memory()


def decode_upload(
    data: bytes, filename: str | None, *, max_pixels: int | None = None, draft_size: int | None = None
) -> Image.Image:
    """Decode uploaded bytes into an RGB PIL image, in memory.

    Decoding is :func:`mlrsir.data.images.decode_rgb`, i.e. exactly what
    :func:`~mlrsir.data.images.read_rgb` does for files (16-bit, alpha and palette
    handling, decompression-bomb and band-count refusals), so an uploaded file gives the
    same code as the same file in the index.

    Args:
        data: the raw file content.
        filename: the client's file name, used only in messages (never as a path).

    Returns:
        ``PIL.Image.Image`` in mode ``"RGB"``.

    Raises:
        DataError: empty, non-image, truncated or oversized (decompression bomb) content;
        the message names the upload, never a server path.
    """
    name = _upload_name(filename)
    if not data:
        raise DataError(f"{name}: the uploaded file is empty")
    return decode_rgb(data, name, max_pixels=max_pixels, draft_size=draft_size)


def _upload_name(filename: str | None) -> str:
    """The client's file name without folders (messages only, never a path)."""
    return Path(filename or "upload").name or "upload"


def thumbnail_bytes(image: Image.Image, size: int = THUMBNAIL_SIZE) -> bytes:
    """JPEG bytes of ``image`` shrunk so that its longest side is at most ``size`` px."""
    thumb = image.convert("RGB")
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85, optimize=True)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    """PNG encoding of ``image``."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def attention_overlay(
    image: Image.Image, attention: np.ndarray, *, alpha: float = 0.5, size: int = ATTENTION_SIZE, colormap: str = "jet"
) -> Image.Image:
    """Blend a colour-mapped spatial attention map over the image.

    Args:
        image: the query, any size, RGB.
        attention: ``(H, W)`` float array, values in ``[0, 1]`` (the CBAM spatial gate
            upsampled to the image, ``Encoder.spatial_attention``); any other size is
            resized bilinearly to the displayed image. It is min-max stretched so that the
            weakest location is dark blue and the strongest red.
        alpha: weight of the heat map in the blend, in ``[0, 1]``.
        size: longest side of the result in pixels.

    Returns:
        RGB image ``(1 - alpha) * image + alpha * colormap(attention)``.
    """
    from matplotlib import colormaps  # noqa: PLC0415 (matplotlib only on this path)

    base = image.convert("RGB")
    base.thumbnail((size, size), Image.Resampling.LANCZOS)
    att = np.asarray(attention, dtype=np.float32)
    if att.ndim != 2:
        raise ValueError(f"attention map must be 2-D (H, W), got shape {att.shape}")
    att = np.nan_to_num(att, nan=0.0)
    lo, hi = float(att.min()), float(att.max())
    att = (att - lo) / (hi - lo) if hi > lo else np.zeros_like(att)
    resized = Image.fromarray(att.astype(np.float32)).resize(base.size, Image.Resampling.BILINEAR)
    heat = colormaps[colormap](np.clip(np.asarray(resized), 0.0, 1.0))[..., :3]
    blended = (1.0 - alpha) * np.asarray(base, dtype=np.float32) / 255.0 + alpha * heat
    return Image.fromarray((np.clip(blended, 0.0, 1.0) * 255).round().astype(np.uint8))


def data_url_png(image: Image.Image) -> str:
    """``data:image/png;base64,...`` URL of the image (usable directly as ``<img src>``)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")
