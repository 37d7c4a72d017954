"""Segmentation masks -> image-level multi-labels (DLRSD, WHDLD).

An index mask is an integer array ``(H, W)`` where value ``v`` in ``1..C`` is class
``v - 1`` and ``0`` is "unlabelled". :func:`labels_from_index_mask` turns it into a
binary label vector: class present if it covers >= 1 pixel, or, with ``min_fraction``,
at least that fraction of all pixels of the mask (unlabelled included).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mlrsir.errors import DataError


def open_mask_array(path: Path) -> np.ndarray:
    """Raw pixel array of a mask file without colour conversion.

    Returns ``(H, W)`` for single-channel files (mode L, P (palette *indices*), I;16, I)
    and ``(H, W, 3)`` for RGB/RGBA files (alpha dropped).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: mask file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty mask file (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("RGB", "RGBA"):
                return np.asarray(image.convert("RGB"))
            if image.mode in ("L", "P", "I;16", "I;16B", "I;16L", "I", "1"):
                return np.asarray(image).astype(np.int64)
            raise DataError(f"{path}: unsupported mask mode {image.mode!r}")
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image file (cannot read mask)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: truncated or corrupt mask ({exc})") from None


def check_index_range(path: Path, array: np.ndarray, num_classes: int) -> None:
    """DataError naming the file and the first offending value if any value > C or < 0."""
    bad = (array < 0) | (array > num_classes)
    if bad.any():
        values = sorted(int(v) for v in np.unique(array[bad]))
        raise DataError(
            f"{path}: mask value {values[0]} is not a class index (expected 0 = unlabelled or "
            f"1..{num_classes}; invalid values found: {values[:10]})"
        )


def labels_from_index_mask(mask: np.ndarray, num_classes: int, min_fraction: float | None = None) -> np.ndarray:
    """``(H, W)`` index mask -> ``(C,)`` uint8 presence vector (see module docstring)."""
    counts = np.bincount(mask.ravel(), minlength=num_classes + 1)[1 : num_classes + 1]
    if min_fraction is None:
        return (counts >= 1).astype(np.uint8)
    if not 0.0 <= min_fraction <= 1.0:
        raise DataError(f"min_fraction must be in [0, 1], got {min_fraction}")
    return ((counts >= 1) & (counts >= min_fraction * mask.size)).astype(np.uint8)


def map_parallel(function: Callable, items: list, workers: int | None = None) -> list:
    """``[function(x) for x in items]`` on a thread pool (Pillow releases the GIL)."""

    workers = workers or min(8, os.cpu_count() or 1)
    if workers <= 1 or len(items) < 16:
        return [function(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def parse_colour_table(text: str, classes: list[str]) -> list[tuple[int, int, int]]:
    """``"name r g b"`` lines (one per class, in ``classes`` order) -> the ``(r, g, b)`` list."""
    colours, names = [], []
    for line in text.strip().splitlines():
        name, r, g, b = line.rsplit(maxsplit=3)
        names.append(name.strip())
        colours.append((int(r), int(g), int(b)))
    if names != list(classes):
        raise ValueError(f"colour table names {names} differ from the classes {list(classes)}")
    return colours


def colour_lookup(colours: list[tuple[int, int, int]]) -> dict[int, int]:
    """Packed ``0xRRGGBB`` -> class index (1 + position in ``colours``); black is 0 (unlabelled)."""
    lookup = {(r << 16) | (g << 8) | b: i + 1 for i, (r, g, b) in enumerate(colours)}
    lookup[0] = 0
    return lookup


def colours_to_index(rgb: np.ndarray, lookup: dict[int, int]) -> np.ndarray | tuple[int, int, int]:
    """``(H, W, 3)`` colour mask -> ``(H, W)`` int64 class indices through ``lookup``
    (:func:`colour_lookup`), or the first ``(r, g, b)`` colour the lookup does not know."""
    rgb = rgb.astype(np.int64)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    unique, inverse = np.unique(packed, return_inverse=True)
    table = np.empty(len(unique), dtype=np.int64)
    for k, code in enumerate(unique.tolist()):
        if code not in lookup:
            return ((code >> 16) & 255, (code >> 8) & 255, code & 255)
        table[k] = lookup[code]
    return table[inverse.reshape(packed.shape)]
