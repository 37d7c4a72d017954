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
