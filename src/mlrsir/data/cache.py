"""Decode-once image cache: all images of a dataset as one uint8 array on disk.

:func:`load_image_array` returns ``np.ndarray uint8 (N, 3, size, size)`` (values 0..255,
RGB, dataset order). Each image is read with :func:`mlrsir.data.images.read_rgb` and the
whole image resized to ``size x size`` (bilinear, antialiased, no crop;
:func:`mlrsir.data.images.rgb_to_uint8_array`). Decoding runs on a thread pool
(Pillow releases the GIL while decoding and resizing).

The array is stored as ``<cache_dir>/<dataset>-<size>px-<key>.npy`` where ``key`` is a
SHA-256 over (format version, size, and for every image its path relative to the
dataset root, file size and modification time in ns). Changing, adding, removing or
touching an image therefore makes a new entry. ``cache_dir`` defaults to
``$MLRSIR_CACHE`` or ``~/.cache/mlrsir``; the file is written to a temporary name and
renamed, so a crash never leaves a partial ``.npy`` under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mlrsir.data.images import read_uint8_array
from mlrsir.errors import DataError
from mlrsir.io_atomic import open_atomic

CACHE_FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$MLRSIR_CACHE`` if set, else ``~/.cache/mlrsir``."""
    env = os.environ.get("MLRSIR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mlrsir"


def load_cached_array(target: Path, shape: tuple[int, ...], dtype) -> np.ndarray | None:
    """The array cached in the ``.npy`` file ``target`` when it has this ``shape`` and ``dtype``;
    None when the file is absent, unreadable or stale (the caller rebuilds and rewrites it)."""
    if not target.is_file():
        return None
    try:
        array = np.load(target, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return array if array.shape == tuple(shape) and array.dtype == np.dtype(dtype) else None


def cache_key(dataset, size: int) -> str:
    """Hex SHA-256 of (relative paths, file sizes, mtimes, size) - see module docstring."""
    entries = []
    for rel, path in zip(dataset.relative_paths, dataset.paths):
        try:
            stat = os.stat(path)
        except OSError:
            raise DataError(f"{path}: image file not found") from None
        entries.append([rel, stat.st_size, stat.st_mtime_ns])
    blob = json.dumps({"v": CACHE_FORMAT_VERSION, "size": int(size), "images": entries}, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def cache_path(dataset, size: int, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_image_array` stores the array for ``dataset`` at ``size``."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{dataset.name}-{int(size)}px-{cache_key(dataset, size)[:20]}.npy"


def decode_images(paths: list[Path], size: int, progress: bool = True, workers: int | None = None) -> np.ndarray:
    """Decode + resize every path: ``(N, 3, size, size)`` uint8 (no caching)."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    workers = workers or min(8, os.cpu_count() or 1)

    def work(i: int) -> int:
        out[i] = read_uint8_array(paths[i], size)
        return i

    bar = None
    if progress:
        bar = tqdm(total=len(paths), desc=f"decoding images ({size}px)", unit="img")
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(work, range(len(paths))):
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out


def load_image_array(
    dataset,
    size: int,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> np.ndarray:
    """All images of ``dataset`` as ``np.ndarray uint8 (N, 3, size, size)``, cached on disk.

    Raises DataError (naming the file) if an image cannot be decoded.
    """
    size = int(size)
    if size <= 0:
        raise DataError(f"image size must be positive, got {size}")
    target = cache_path(dataset, size, cache_dir)
    expected_shape = (len(dataset), 3, size, size)
    cached = load_cached_array(target, expected_shape, np.uint8)
    if cached is not None:
        return cached
    array = decode_images(list(dataset.paths), size, progress=progress, workers=workers)
    with open_atomic(target, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
    return array
