"""Image helpers of the web app: decode uploads, make thumbnails and attention overlays.

Everything here works on in-memory bytes or PIL images; nothing is written to disk.
Decoding itself is :mod:`mlrsir.data.images` (the one image decoder); this module adds
the upload-specific parts (client file names in messages) and the response encodings.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.data.images import decode_rgb
from mlrsir.errors import DataError

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


def decode_upload(data: bytes, filename: str | None) -> Image.Image:
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
    name = Path(filename or "upload").name or "upload"
    if not data:
        raise DataError(f"{name}: the uploaded file is empty")
    return decode_rgb(data, name)


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
    from matplotlib import colormaps

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
