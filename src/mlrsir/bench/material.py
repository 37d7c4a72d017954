"""Benchmark material shared by the search, scale and index-store benchmarks.

* :func:`random_packed_codes`: codes uniform in {0,1}^bits, packed (the ``random`` source).
* :func:`encode_augmented_views`: real codes of augmented images encoded by a trained run
  (the ``ucm`` source, and the real codes :mod:`mlrsir.bench.realistic` grows).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from mlrsir.data.images import read_rgb
from mlrsir.data.transforms import dihedral, jitter_brightness_contrast
from mlrsir.errors import DataError
from mlrsir.index.backends import packed_width
from mlrsir.index.ingest import list_images, load_hashing_encoder  # heavy (torch): imported when used


def random_packed_codes(rng: np.random.Generator, n: int, bits: int, chunk: int = 1 << 20) -> np.ndarray:
    """``(n, ceil(bits/8))`` uint8 random packed codes, padding bits zero."""
    width = packed_width(bits)
    out = np.empty((n, width), dtype=np.uint8)
    for start in range(0, n, chunk):
        out[start : start + chunk] = rng.integers(0, 256, (min(chunk, n - start), width), dtype=np.uint8)
    if bits % 8:
        out[:, -1] &= np.uint8((0xFF << (8 - bits % 8)) & 0xFF)
    return out


def encode_augmented_views(run_dir, images, views, max_images, batch_size, rng, log) -> dict:
    """Encode ``views`` augmented variants of every image under ``images`` (the first
    ``max_images`` when given) with the model of ``run_dir`` (see :mod:`mlrsir.bench.search`,
    source ``ucm``). Returns ``{bits, codes (M, bits) uint8 in {0,1}, outputs (M, D) float32,
    images, views, encode_images_per_s, run_dir}`` with ``M = images x views``."""
    from PIL import Image  # noqa: PLC0415 (PIL only on this path)

    encoder = load_hashing_encoder(run_dir)
    paths = list_images(images)
    if max_images:
        paths = paths[:max_images]
    if not paths:
        raise DataError(f"{images}: no images found for --source ucm")
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    codes: list[np.ndarray] = []
    outputs: list[np.ndarray] = []
    batch: list[Image.Image] = []
    t0 = time.perf_counter()

    def flush():
        if batch:
            c, o = encoder.encode_images(batch)
            codes.append(np.asarray(c, dtype=np.uint8))
            outputs.append(np.asarray(o, dtype=np.float32))
            batch.clear()

    for path in paths:
        image = torch.from_numpy(np.asarray(read_rgb(path), dtype=np.uint8).transpose(2, 0, 1).copy())
        for t in range(views):
            view = jitter_brightness_contrast(dihedral(image, t % 8)[None], generator, color_jitter=0.1)[0]
            batch.append(Image.fromarray(view.permute(1, 2, 0).numpy()))
            if len(batch) >= batch_size:
                flush()
    flush()
    seconds = time.perf_counter() - t0
    codes_all, outputs_all = np.concatenate(codes), np.concatenate(outputs)
    log(
        f"  run {run_dir}: encoded {len(codes_all)} augmented views of {len(paths)} images "
        f"in {seconds:.1f} s ({len(codes_all) / seconds:.1f} images/s)"
    )
    return {
        "bits": int(encoder.bits),
        "codes": codes_all,
        "outputs": outputs_all,
        "images": len(paths),
        "views": views,
        "encode_images_per_s": len(codes_all) / seconds,
        "run_dir": str(run_dir),
    }
