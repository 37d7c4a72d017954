"""Pseudo-similarity of unlabelled training images from the frozen backbone's features.

The label-free objective ``--label-free-objective neighbours`` fits the codes' inner
products to these targets (:mod:`mlrsir.methods.similarity_distillation`). Built once,
before training, from the pooled multi-level features ``f (T, C)`` of the ``T`` training
images (the features the ``itq`` baseline hashes):

1. power normalisation (Perronnin, Sanchez & Mensink, "Improving the Fisher Kernel for
   Large-Scale Image Classification", ECCV 2010, Sec. 3.1): ``f <- sign(f) |f|^POWER``
   elementwise, then ``u_i = f_i / ||f_i||``;
2. database-side augmentation (Arandjelovic & Zisserman, "Three things everyone should know
   to improve object retrieval", CVPR 2012, Sec. 4): ``g_i`` = the normalised sum of ``u_i``
   and the ``u`` of its ``k - 1`` nearest other training images (cosine); ``k = 1`` keeps
   ``g_i = u_i``. Averaging over a neighbourhood smooths the similarity of near-duplicates of
   one scene (measured on the validation split: see ``reports/ucm-label-free``);
3. ``s_ij = g_i . g_j`` in [-1, 1], mapped linearly so that the ``low`` and ``high``
   quantiles of ``s`` over a seeded sample of training pairs become -1 and +1, and clipped:
   ``t_ij = clip(2 (s_ij - q_low) / (q_high - q_low) - 1, -1, 1)``.

Memory: ``g (T, C)`` float32 and the nearest-neighbour search in chunks of queries; no
``T x T`` matrix is ever held. The targets of a batch are computed when asked.
"""

from __future__ import annotations

import numpy as np
import torch

from mlrsir.errors import ConfigError

POWER = 0.5  # of the power normalisation (1.0: none); chosen on validation (reports/ucm-label-free)
PAIR_SAMPLE = 200_000  # training pairs drawn to estimate the quantiles
QUANTILES = (0.05, 0.95)  # of s_ij, mapped to -1 and +1
SEARCH_CHUNK = 1024  # query rows per nearest-neighbour search


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def neighbourhood_descriptors(features: np.ndarray, k: int) -> np.ndarray:
    """``(T, C)`` -> ``(T, C)`` float32 unit rows: steps 1-2 above (each image plus its
    ``k - 1`` nearest others, by cosine; ties in the search resolved by lower index)."""
    f = np.asarray(features, dtype=np.float32)
    u = _normalise(np.sign(f) * np.abs(f) ** POWER if POWER != 1.0 else f)
    t = len(u)
    if k < 1:
        raise ConfigError(f"--neighbour-k must be at least 1, got {k}")
    if k == 1 or t < 2:
        return u
    others = min(k - 1, t - 1)
    out = np.empty_like(u)
    for start in range(0, t, SEARCH_CHUNK):
        rows = np.arange(start, min(start + SEARCH_CHUNK, t))
        sims = u[rows] @ u.T  # (chunk, T)
        sims[np.arange(len(rows)), rows] = -np.inf  # the image itself is added below
        # stable sort of -sims: equal similarities keep the lower index first
        nearest = np.argsort(-sims, axis=1, kind="stable")[:, :others]
        out[rows] = u[rows] + u[nearest].sum(axis=1)
    return _normalise(out)


class NeighbourTargets:
    """``targets(idx (B,) int) -> (B, B)`` float32 tensor in [-1, 1] for global image indices.

    Args:
        features: ``(T, C)`` features of the training images (label-free).
        rows: ``(T,)`` their global image indices (``idx`` passed later must be among them).
        k: neighbourhood size of the database-side augmentation (1 = the image alone).
        seed: seed of the pair sample that fixes the quantiles.
    """

    def __init__(self, features: np.ndarray, rows: np.ndarray, k: int, seed: int = 0):
        features = np.asarray(features)
        rows = np.asarray(rows, dtype=np.int64)
        if features.ndim != 2 or len(features) != len(rows) or len(rows) < 2:
            raise ConfigError(
                f"neighbour targets: expected (T, C) features of T >= 2 training images and T indices, "
                f"got {features.shape} and {rows.shape}"
            )
        self.k = int(k)
        self.descriptors = neighbourhood_descriptors(features, self.k)
        self.position = np.full(int(rows.max()) + 1, -1, dtype=np.int64)
        self.position[rows] = np.arange(len(rows))
        rng = np.random.default_rng([int(seed), 2025])
        a = rng.integers(0, len(rows), PAIR_SAMPLE)
        b = (a + rng.integers(1, len(rows), PAIR_SAMPLE)) % len(rows)  # b != a
        s = np.einsum("ij,ij->i", self.descriptors[a], self.descriptors[b])
        self.low, self.high = (float(v) for v in np.quantile(s, QUANTILES))
        if not self.high > self.low:
            raise ConfigError(
                "neighbour targets: the training images' features are all alike (no spread of similarity "
                "to learn from); train with labels or on more varied images"
            )

    def similarity(self, idx: np.ndarray) -> np.ndarray:
        """``(B, B)`` float32 ``s_ij`` (step 3, before scaling) of global indices ``idx``."""
        pos = self.position[np.asarray(idx, dtype=np.int64)]
        if (pos < 0).any():
            raise ValueError("neighbour targets: asked for images outside the training set")
        g = self.descriptors[pos]
        return g @ g.T

    def __call__(self, idx) -> torch.Tensor:
        s = self.similarity(np.asarray(idx))
        t = 2.0 * (s - self.low) / (self.high - self.low) - 1.0
        return torch.from_numpy(np.clip(t, -1.0, 1.0).astype(np.float32))
