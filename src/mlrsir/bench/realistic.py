"""Benchmark codes that look like real ones: real UCM codes grown to any size by bit flips.

Uniform random codes are the easiest case for hashing-by-substring indexes (every bucket
holds ``n / 2^b`` items) and the hardest for clustering ones (no structure to find), while a
trained model's codes are the opposite: few, tight clusters (one per visual concept) with
large ties at small distances. The search benchmark therefore also runs on codes made by
the generator below.

The generator (``realistic`` codes):

1. **Real codes.** Every image of a folder (UCM) is augmented into ``views`` variants with
   the training augmentation (see :func:`mlrsir.bench.material.encode_augmented_views`) and encoded by a
   trained run: ``M = images x views`` real codes, each tagged with its image (``groups``).
2. **Per-bit flip rate** (:func:`measure_flip_rate`). For every image, the bitwise majority
   of its views is its *centre* (ties at an even split count as 0); the flip rate of bit
   ``j`` is the fraction of all views whose bit ``j`` differs from their image's centre. It
   measures how much one image's code moves under augmentation, bit by bit.
3. **Growing** (:func:`grow_codes`). Item ``i`` of the target database is a real code drawn
   uniformly at random (with replacement) with each bit ``j`` flipped independently with
   probability ``flip_rate[j]``. A copy therefore sits around its real code exactly as the
   views of an image sit around their centre. Queries are drawn the same way (with
   another random stream), so they are new views of the same images, not database items.

Real codes are cached in an ``.npz`` (``codes`` (M, bits) uint8 in {0,1}, ``groups`` (M,)
int64, ``bits``, ``run``, ``encode_images_per_s``) so the (slow) encoding runs once.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from mlrsir.bench.material import encode_augmented_views, random_packed_codes
from mlrsir.errors import ConfigError
from mlrsir.io_atomic import write_bytes_atomic


def measure_flip_rate(codes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per-bit flip rate ``(bits,) float64`` of views around their image's majority code.

    Args:
        codes: ``(M, bits)`` {0,1} codes of augmented views.
        groups: ``(M,)`` image index of each view (views of one image share it).
    """
    codes = np.asarray(codes, dtype=np.uint8)
    groups = np.asarray(groups).reshape(-1)
    if codes.ndim != 2 or groups.shape[0] != codes.shape[0] or codes.shape[0] == 0:
        raise ConfigError(f"codes {codes.shape} and groups {groups.shape} do not match")
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    ones = np.zeros((counts.size, codes.shape[1]), dtype=np.int64)
    np.add.at(ones, inverse, codes)
    centre = (2 * ones > counts[:, None]).astype(np.uint8)
    return (codes != centre[inverse]).mean(axis=0)


def grow_codes(
    real: np.ndarray, flip_rate: np.ndarray, n: int, rng: np.random.Generator, chunk: int = 1 << 20
) -> np.ndarray:
    """``n`` packed codes ``(n, ceil(bits/8)) uint8``: random real codes with bit ``j`` flipped
    with probability ``flip_rate[j]`` (see the module doc). ``real`` is ``(M, bits)`` {0,1}."""
    real = np.asarray(real, dtype=np.uint8)
    m, bits = real.shape
    rate = np.asarray(flip_rate, dtype=np.float32).reshape(-1)
    if rate.shape[0] != bits or m == 0:
        raise ConfigError(f"{rate.shape[0]} flip rates for {bits}-bit codes (M={m})")
    out = np.empty((n, (bits + 7) // 8), dtype=np.uint8)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        flips = rng.random((size, bits), dtype=np.float32) < rate
        flips ^= real[rng.integers(0, m, size)].astype(bool)
        out[start : start + size] = np.packbits(flips, axis=1)
    return out


def load_real_codes(path, run_dir=None, images=None, views=8, max_images=None, rng=None, log=print) -> dict:
    """Real codes from the cache ``path`` (``.npz``), encoding them first when it is missing
    (needs ``run_dir`` and ``images``). Returns ``{codes, groups, bits, run, ...}``."""
    path = Path(path)
    if not path.exists():
        if not run_dir or not images:
            raise ConfigError(f"{path}: no cached real codes; give --run and --images to encode them")
        rng = np.random.default_rng(rng)
        material = encode_augmented_views(run_dir, images, views, max_images, 64, rng, log)
        groups = np.repeat(np.arange(material["images"]), views)
        buffer = io.BytesIO()
        np.savez(
            buffer,
            codes=np.asarray(material["codes"], np.uint8),
            groups=groups,
            bits=material["bits"],
            run=str(run_dir),
            views=views,
            encode_images_per_s=material["encode_images_per_s"],
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buffer.getvalue())
    with np.load(path) as z:
        out = {key: z[key] for key in z.files}
    out["bits"] = int(out["bits"])
    out["run"] = str(out.get("run", ""))
    return out


def make_codes(kind, n, nq, bits, rng, real) -> tuple[np.ndarray, np.ndarray, str]:
    """Database ``(n, ceil(bits/8))`` and query ``(nq, ...)`` packed uint8 codes of ``kind``
    (``"random"``: uniform; ``"realistic"``: ``real[bits]`` grown by :func:`grow_codes`) and a
    note saying how they were made. ConfigError when realistic codes of ``bits`` are missing."""

    if kind == "random":
        return random_packed_codes(rng, n, bits), random_packed_codes(rng, nq, bits), "uniform in {0,1}^bits"
    material = real.get(bits)
    if material is None:
        raise ConfigError(f"realistic {bits}-bit codes need real {bits}-bit codes (--real-codes/--run)")
    rate = measure_flip_rate(material["codes"], material["groups"])
    note = (
        f"{material['codes'].shape[0]} real codes of run {material['run']} "
        f"({int(material['groups'].max()) + 1} images x views), per-bit flip rate mean {rate.mean():.4f} "
        f"(min {rate.min():.4f}, max {rate.max():.4f})"
    )
    return grow_codes(material["codes"], rate, n, rng), grow_codes(material["codes"], rate, nq, rng), note
