"""Multi-level features of a frozen backbone, computed once and reused.

With ``finetune="none"`` the backbone and the multi-level fusion (``MLRSIRNet.aggregate``)
do not change during training, so their output for every image and every dihedral view
(4 rotations x optional flip, the augmentation used for overhead imagery) is computed once
and kept as float16. Training then runs only CBAM and the hash head, which is what lets a
run finish in about a minute on two CPU cores. Colour jitter cannot be applied to cached
features; this is stated in the run's config (``color_jitter`` is ignored).

The cache is stored as ``.npy`` under the mlrsir cache folder, keyed by a hash of the
image array and of everything that defines ``aggregate`` (backbone, weights, image size,
multi-level flag, pool size).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mlrsir.data.cache import default_cache_dir
from mlrsir.data.transforms import dihedral, to_float_normalized
from mlrsir.io_atomic import open_atomic
from mlrsir.models.fast_copy import prepare_for_inference


def feature_cache_key(images: np.ndarray, parts: dict) -> str:
    h = hashlib.sha256()
    h.update(str(images.shape).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(repr(sorted(parts.items())).encode())
    return h.hexdigest()[:24]


@torch.no_grad()
def compute_aggregates(
    model: torch.nn.Module,
    images: np.ndarray,
    views: int = 8,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
    normalize: Callable[[torch.Tensor], torch.Tensor] = to_float_normalized,
) -> np.ndarray:
    """``model.aggregate`` of every image under ``views`` dihedral transforms.

    Args:
        model: an ``MLRSIRNet`` (put in eval mode here).
        images: ``(N, 3, S, S)`` uint8 RGB, or ``(N, C, S, S)`` float bands in 0..255
            (multispectral runs, with ``normalize`` their
            :meth:`mlrsir.models.input_spec.InputSpec.normalize`).
        views: number of dihedral views, 1..8 (view 0 is the identity).
        normalize: input batch -> model input (default: ImageNet, uint8 RGB).

    Returns:
        ``(N, views, C_agg, P, P)`` float16.
    """

    fast = prepare_for_inference(model).to(device)  # BatchNorm folded, channels-last: ~4x faster on CPU
    out = None
    n = len(images)
    bar = tqdm(total=n * views, desc="features", unit="img", disable=not progress, leave=False)
    for start in range(0, n, batch_size):
        x = torch.from_numpy(images[start : start + batch_size])
        for v in range(views):
            xv = normalize(dihedral(x, v)).to(device)
            agg = fast.aggregate(xv).float().cpu().numpy().astype(np.float16)
            if out is None:
                out = np.empty((n, views) + agg.shape[1:], dtype=np.float16)
            out[start : start + len(x), v] = agg
            bar.update(len(x))
    bar.close()
    return out


def load_or_compute_aggregates(
    model: torch.nn.Module,
    images: np.ndarray,
    key_parts: dict,
    views: int = 8,
    cache_dir: Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    normalize: Callable[[torch.Tensor], torch.Tensor] = to_float_normalized,
) -> np.ndarray:
    """Cached :func:`compute_aggregates` (written atomically; a bad cache file is rebuilt).
    ``key_parts`` must name whatever ``normalize`` depends on beyond the images."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = feature_cache_key(images, dict(key_parts, views=views))
    path = cache_dir / f"features-{key}.npy"
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
    feats = compute_aggregates(model, images, views=views, device=device, progress=progress, normalize=normalize)
    try:
        with open_atomic(path, "wb") as handle:
            np.save(handle, feats)
    except OSError:
        pass  # a read-only cache is not fatal
    return feats


@torch.no_grad()
def compute_trunk(
    model: torch.nn.Module,
    images: np.ndarray,
    top: int,
    views: int = 8,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
    normalize: Callable[[torch.Tensor], torch.Tensor] = to_float_normalized,
) -> tuple[np.ndarray, np.ndarray]:
    """``model.frozen_trunk(x, top)`` of every image under ``views`` dihedral views: what
    top-stage fine-tuning (``finetune="top1"``/``"top2"``) caches, since the stages below the
    trained ones never change.

    Returns:
        ``pooled`` ``(N, views, C_frozen, S, S)`` and ``last`` ``(N, views, C_l, H_l, W_l)``,
        float16 (see :meth:`mlrsir.models.mlrsir_net.MLRSIRNet.frozen_trunk`).
    """

    fast = prepare_for_inference(model).to(device)
    pooled = last = None
    n = len(images)
    bar = tqdm(total=n * views, desc=f"trunk (top {top})", unit="img", disable=not progress, leave=False)
    for start in range(0, n, batch_size):
        x = torch.from_numpy(images[start : start + batch_size])
        for v in range(views):
            p, lf = fast.frozen_trunk(normalize(dihedral(x, v)).to(device), top)
            p16, l16 = (t.float().cpu().numpy().astype(np.float16) for t in (p, lf))
            if pooled is None or last is None:
                pooled = np.empty((n, views) + p16.shape[1:], dtype=np.float16)
                last = np.empty((n, views) + l16.shape[1:], dtype=np.float16)
            pooled[start : start + len(x), v] = p16
            last[start : start + len(x), v] = l16
            bar.update(len(x))
    bar.close()
    assert pooled is not None and last is not None, "no images"
    return pooled, last


def load_or_compute_trunk(
    model: torch.nn.Module,
    images: np.ndarray,
    key_parts: dict,
    top: int,
    views: int = 8,
    cache_dir: Path | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
    normalize: Callable[[torch.Tensor], torch.Tensor] = to_float_normalized,
) -> tuple[np.ndarray, np.ndarray]:
    """Cached :func:`compute_trunk` (one ``.npz`` per key, written atomically)."""
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = feature_cache_key(images, dict(key_parts, views=views, trunk_top=top))
    path = cache_dir / f"trunk-{key}.npz"
    if path.is_file():
        try:
            with np.load(path) as stored:
                return stored["pooled"], stored["last"]
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)
    pooled, last = compute_trunk(model, images, top, views=views, device=device, progress=progress, normalize=normalize)
    try:
        with open_atomic(path, "wb") as handle:
            np.savez(handle, pooled=pooled, last=last)
    except OSError:
        pass
    return pooled, last


def pooled_view0(aggregates, chunk: int = 256) -> np.ndarray:
    """``(N, C)`` float32: the spatial mean of view 0 of aggregates ``(N, V, C, P, P)`` (numpy
    or torch, any float dtype), computed ``chunk`` images at a time."""
    n = len(aggregates)
    out: np.ndarray | None = None
    for start in range(0, n, chunk):
        part = aggregates[start : start + chunk, 0]
        part = part.float().numpy() if isinstance(part, torch.Tensor) else np.asarray(part, dtype=np.float32)
        pooled = part.mean(axis=(2, 3))
        if out is None:
            out = np.empty((n, pooled.shape[1]), dtype=np.float32)
        out[start : start + len(part)] = pooled
    if out is None:
        raise ValueError("pooled_view0: no images")
    return out
