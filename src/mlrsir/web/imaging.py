"""Image helpers of the web app: decode uploads, make thumbnails and attention overlays.

Everything here works on in-memory bytes or PIL images; nothing is written to disk
except, when :func:`mlrsir.data.images.read_rgb` is available, a short-lived copy of an
upload inside a private :func:`tempfile.TemporaryDirectory` (``read_rgb`` takes a path).
"""

from __future__ import annotations

import base64
import io
import tempfile
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.errors import DataError

THUMBNAIL_SIZE = 256
"""Longest side of a thumbnail in pixels."""

ATTENTION_SIZE = 384
"""Longest side of the attention overlay in pixels."""

BROWSER_FORMATS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}
"""Files with these suffixes are served as they are; others are converted to PNG."""


def _read_rgb_function():
    """``mlrsir.data.images.read_rgb`` when that module exists, else ``None``."""
    try:
        from mlrsir.data.images import read_rgb
    except ImportError:
        return None
    return read_rgb


def _decode_with_pillow(data: bytes, name: str) -> Image.Image:
    """Fallback decoder: Pillow ``verify`` then a full load, converted to RGB."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"{name}: image too large to decode safely ({exc})") from None
    except Exception as exc:  # Pillow raises many types for broken files
        raise DataError(f"{name}: not a readable image ({type(exc).__name__}: {exc})") from None
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        peak = arr.max() if arr.size and arr.max() > 0 else 1.0
        image = Image.fromarray((arr / peak * 255).astype(np.uint8))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image.convert("RGB")


def decode_upload(data: bytes, filename: str | None) -> Image.Image:
    """Decode uploaded bytes into an RGB PIL image.

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
    read_rgb = _read_rgb_function()
    if read_rgb is None:
        return _decode_with_pillow(data, name)
    with tempfile.TemporaryDirectory(prefix="mlrsir-upload-") as tmp:
        suffix = Path(name).suffix if Path(name).suffix.isascii() else ""
        tmp_path = Path(tmp) / f"upload{suffix[:10]}"
        tmp_path.write_bytes(data)
        try:
            image = read_rgb(tmp_path)
            image.load()
        except DataError as exc:
            raise DataError(str(exc).replace(str(tmp_path), name)) from None
        return image.convert("RGB")


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


def attention_overlay(image: Image.Image, attention: np.ndarray, *, alpha: float = 0.5,
                      size: int = ATTENTION_SIZE, colormap: str = "jet") -> Image.Image:
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


def read_image_file(path: Path) -> Image.Image:
    """Read an archive image as RGB (``read_rgb`` when available, else Pillow).

    Raises:
        DataError: missing or unreadable file (the message names the path; callers
        must not show it to web clients).
    """
    read_rgb = _read_rgb_function()
    if read_rgb is not None:
        image = read_rgb(path)
        image.load()
        return image.convert("RGB")
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    return _decode_with_pillow(data, str(path))
