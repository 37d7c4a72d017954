"""Reading any image file as 8-bit RGB, with user-facing errors.

:func:`read_rgb` (files) and :func:`decode_rgb` (bytes in memory, e.g. web uploads)
are the only places where images are decoded. Whatever the file mode, the result is a
fully decoded ``PIL.Image.Image`` in mode ``"RGB"`` (uint8, values 0..255, size
unchanged):

============== ===========================================================
file mode      conversion
============== ===========================================================
RGB            unchanged
L, 1           grey value copied to the three channels (1-bit: 0 / 255)
P, PA          palette expanded; transparency handled as alpha (below)
RGBA, LA, La,  alpha composited onto black: ``rgb * alpha / 255`` (rounded);
RGBa, PA       transparent pixels are treated as "no data"
I;16, I;16B,   divided by 257 (maps 0..65535 onto 0..255 exactly; a fixed
I;16L, I;16N   scale keeps brightness comparable between tiles)
I, F           linear stretch of the image's own min..max onto 0..255
               (32-bit data has no natural full-scale value); constant
               images become 0
CMYK, YCbCr,   Pillow's own conversion to RGB
LAB, HSV
============== ===========================================================

Errors are :class:`mlrsir.errors.DataError` naming the path and the problem: file
missing, zero bytes, not an image, truncated/corrupt (the whole image is decoded with
``.load()`` so truncation is found here, not later), TIFF with more than 4 bands, and
images larger than ``PIL.Image.MAX_IMAGE_PIXELS`` (Pillow's decompression-bomb guard;
both its warning and its error become a refusal, so a huge file is never decoded).

:func:`resize_rgb` / :func:`rgb_to_uint8_array` are the single resize used by the
decoded-image cache and by query-time encoding (bilinear with Pillow's antialiasing,
the whole image squashed to ``size x size``, no crop), so training and querying see
the same pixels.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlrsir.errors import DataError
from mlrsir.paths import not_found_message

IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S"}
_ALPHA_MODES = {"RGBA", "LA", "La", "RGBa", "PA"}


def read_rgb(path: str | Path, *, target_size: int | None = None) -> Image.Image:
    """Decode ``path`` completely and return it as a PIL image in mode ``"RGB"``.

    ``target_size``: optional hint that the caller resizes the image to ``target_size``
    pixels afterwards (encoding). A JPEG far larger than that is then decoded at reduced
    scale (``Image.draft``, 1/2 .. 1/8) while its longest side stays >= ``2 * target_size``,
    so the antialiased resize still averages at least 2x2 decoded pixels per output pixel;
    the file's own size is kept in ``image.info["original_size"]``.

    Raises:
        DataError: missing / empty / non-image / truncated / too large / >4-band file;
            the message starts with the path.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(not_found_message(path))
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    return _decode(path, path, draft_size=2 * int(target_size) if target_size else None)


class ImageTooLargeError(DataError):
    """The image has more pixels than the caller's ``max_pixels`` (web: HTTP 413)."""


def decode_rgb(data: bytes, name: str, *, max_pixels: int | None = None, draft_size: int | None = None) -> Image.Image:
    """:func:`read_rgb` for file content already in memory (e.g. an upload).

    Same conversions and refusals; messages start with ``name`` (no file is written).

    Args:
        max_pixels: refuse (:class:`ImageTooLargeError`) images that would decode to more
            pixels than this, checked from the header before decoding (after the JPEG
            draft reduction below).
        draft_size: for JPEG files, let the decoder scale by 1/2, 1/4 or 1/8 while
            decoding (``Image.draft``) as long as the longest side stays >= ``draft_size``; a
            9000x9000 JPEG then decodes to 1125x1125 (4 MB) instead of 243 MB.
    """
    if not data:
        raise DataError(f"{name}: empty file (0 bytes)")
    return _decode(io.BytesIO(data), name, max_pixels=max_pixels, draft_size=draft_size)


def _decode(
    source: Path | BinaryIO, label, *, max_pixels: int | None = None, draft_size: int | None = None
) -> Image.Image:
    """Decode a file path or a seekable binary stream; messages start with ``label``."""
    bands = _tiff_samples_per_pixel(source)
    if bands is not None and bands > 4:
        raise DataError(_too_many_bands_message(label, bands))
    try:
        with Image.open(source) as image:
            _refuse_if_too_large(label, image)
            _refuse_if_too_many_bands(label, image)
            declared_size = image.size
            if draft_size and image.format == "JPEG":
                longest = max(declared_size)
                image.draft("RGB", tuple(max(1, -(-int(draft_size) * side // longest)) for side in declared_size))
            if max_pixels is not None and image.width * image.height > max_pixels:
                raise ImageTooLargeError(
                    f"{label}: image too large: {image.width}x{image.height} = {image.width * image.height} "
                    f"pixels to decode, the limit is {max_pixels} ({max_pixels / 1e6:.0f} megapixels)"
                )
            image.load()
            rgb = _to_rgb(image)
            if rgb.size != declared_size:
                rgb.info["original_size"] = declared_size
            return rgb
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: image too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise DataError(f"{label}: not an image file Pillow can read (unknown format)") from None
    except (OSError, SyntaxError, ValueError, struct.error, EOFError, MemoryError) as exc:
        raise DataError(f"{label}: truncated or corrupt image, cannot decode ({exc})") from None


def _refuse_if_too_large(path: Path, image: Image.Image) -> None:
    """Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; refuse both, as too large
    (:class:`ImageTooLargeError`: the web answers every decompression bomb with 413)."""
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        raise ImageTooLargeError(
            f"{path}: image too large to decode safely ({width}x{height} = {width * height} "
            f"pixels > PIL.Image.MAX_IMAGE_PIXELS = {limit}; possible decompression bomb)"
        )


def _too_many_bands_message(path: Path, bands: int) -> str:
    return (
        f"{path}: multi-band image with {bands} bands is not supported; only 1-4 band "
        "images (grey, RGB, RGBA, CMYK) can be read - export an RGB composite first"
    )


def _refuse_if_too_many_bands(path: Path, image: Image.Image) -> None:
    tags = getattr(image, "tag_v2", None)
    if tags is not None:
        bands = tags.get(277)  # SamplesPerPixel
        if isinstance(bands, int) and bands > 4:
            raise DataError(_too_many_bands_message(path, bands))


def _tiff_samples_per_pixel(source: Path | BinaryIO) -> int | None:
    """SamplesPerPixel (tag 277) of the first IFD of a classic TIFF, else None."""
    if isinstance(source, Path):
        try:
            with open(source, "rb") as handle:
                return _samples_per_pixel(handle)
        except OSError:
            return None
    try:
        return _samples_per_pixel(source)
    finally:
        source.seek(0)


def _samples_per_pixel(handle: BinaryIO) -> int | None:
    try:
        header = handle.read(8)
        if header[:4] == b"II*\x00":
            order = "<"
        elif header[:4] == b"MM\x00*":
            order = ">"
        else:
            return None
        (offset,) = struct.unpack(order + "I", header[4:8])
        handle.seek(offset)
        (count,) = struct.unpack(order + "H", handle.read(2))
        for _ in range(min(count, 4096)):
            entry = handle.read(12)
            if len(entry) < 12:
                return None
            tag, typ, _n = struct.unpack(order + "HHI", entry[:8])
            if tag == 277:
                if typ == 3:  # SHORT
                    return struct.unpack(order + "H", entry[8:10])[0]
                return struct.unpack(order + "I", entry[8:12])[0]
    except (OSError, struct.error, ValueError):
        return None
    return None


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert a loaded image of any mode to RGB (see the module docstring)."""
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
        alpha = rgba[..., 3:4]
        rgb = (rgba[..., :3] * alpha + 127) // 255
        return Image.fromarray(rgb.astype(np.uint8), "RGB")
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image).astype(np.float64)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode in ("I", "F"):
        values = np.asarray(image).astype(np.float64)
        low, high = float(values.min()), float(values.max())
        if high > low:
            grey = np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)
        else:
            grey = np.zeros(values.shape, dtype=np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode == "1":
        return image.convert("L").convert("RGB")
    return image.convert("RGB")


def resize_rgb(image: Image.Image, size: int) -> Image.Image:
    """Resize a whole RGB image to ``size x size`` (bilinear, antialiased, no crop).

    Pillow's ``resize`` with ``BILINEAR`` widens the filter support by the scale factor
    when shrinking, i.e. it antialiases (like ``torchvision`` ``antialias=True``).
    """
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if image.size == (size, size):
        return image
    return image.resize((size, size), Image.Resampling.BILINEAR)


def rgb_to_uint8_array(image: Image.Image, size: int) -> np.ndarray:
    """RGB PIL image -> resized ``np.ndarray`` uint8 ``(3, size, size)``, values 0..255."""
    if image.mode != "RGB":
        image = _to_rgb(image)
    array = np.asarray(resize_rgb(image, size), dtype=np.uint8)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def read_uint8_array(path: str | Path, size: int) -> np.ndarray:
    """:func:`read_rgb` + :func:`rgb_to_uint8_array`: ``(3, size, size)`` uint8."""
    return rgb_to_uint8_array(read_rgb(path), size)
