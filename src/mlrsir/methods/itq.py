"""Unsupervised baselines on fixed features: ITQ (PCA + iterative quantisation) and LSH.

* :class:`ITQ`: Gong & Lazebnik, "Iterative Quantization: A Procrustean Approach to Learning
  Binary Codes for Large-Scale Image Retrieval", TPAMI 2013. Features ``x (N, D)`` are
  centred and projected on their top ``bits`` principal directions, ``V = (x - mu) W (N, bits)``;
  then, alternately, ``B = sgn(V R)`` and ``R`` the orthogonal Procrustes solution of
  ``min_R ||B - V R||_F^2`` (Sec. 2.3: ``SVD(V^T B) = S Omega S_hat^T``, ``R = S S_hat^T``),
  for ``iterations`` rounds from a seeded random rotation. Code: ``binarize(V R)``.
* :class:`RandomHyperplaneLSH`: random hyperplanes (Charikar, STOC 2002): ``bits`` Gaussian
  directions ``P (D, bits)``, seeded, applied to centred features; code ``binarize((x - mu) P)``.

Neither reads a label. ``fit(x)`` then ``encode(x) -> (N, bits) uint8`` in {0, 1}.
"""

from __future__ import annotations

import numpy as np

from mlrsir.codes import binarize, check_code_length
from mlrsir.errors import ConfigError


def _check_features(x, bits: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ConfigError(f"features: expected (N, D) with N >= 2, got shape {x.shape}")
    if bits is not None and bits > min(x.shape):
        raise ConfigError(f"ITQ with {bits} bits needs at least {bits} images and {bits} feature dimensions")
    return x


class ITQ:
    """PCA-ITQ; attributes after :meth:`fit`: ``mean (D,)``, ``projection (D, bits)``,
    ``rotation (bits, bits)`` orthogonal, ``quantization_losses`` (one ``||B - VR||_F^2``
    per iteration, non-increasing)."""

    def __init__(self, bits: int, iterations: int = 50, seed: int = 0):
        self.bits = check_code_length(bits)
        if iterations < 0:
            raise ConfigError(f"ITQ iterations must be >= 0, got {iterations}")
        self.iterations = int(iterations)
        self.seed = int(seed)

    def fit(self, x) -> ITQ:
        x = _check_features(x, self.bits)
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        # top principal directions from the SVD of the centred data (signs as numpy returns them)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        self.projection = vt[: self.bits].T
        v = centred @ self.projection
        rng = np.random.default_rng(self.seed)
        rotation, _ = np.linalg.qr(rng.standard_normal((self.bits, self.bits)))
        self.quantization_losses: list[float] = []
        for _ in range(self.iterations):
            b = np.where(v @ rotation > 0, 1.0, -1.0)
            u, _, wt = np.linalg.svd(v.T @ b)
            rotation = u @ wt
            self.quantization_losses.append(float(np.sum((b - v @ rotation) ** 2)))
        self.rotation = rotation
        return self

    def project(self, x) -> np.ndarray:
        """``(N, D)`` -> ``(N, bits)`` float, ``(x - mean) W R``."""
        return (_check_features(x) - self.mean) @ self.projection @ self.rotation

    def encode(self, x) -> np.ndarray:
        """``(N, D)`` -> ``(N, bits)`` uint8 codes in {0, 1}."""
        return binarize(self.project(x))


class RandomHyperplaneLSH:
    """Sign of seeded random Gaussian projections of the centred features."""

    def __init__(self, bits: int, seed: int = 0):
        self.bits = check_code_length(bits)
        self.seed = int(seed)

    def fit(self, x) -> RandomHyperplaneLSH:
        x = _check_features(x)
        self.mean = x.mean(axis=0)
        self.hyperplanes = np.random.default_rng(self.seed).standard_normal((x.shape[1], self.bits))
        return self

    def project(self, x) -> np.ndarray:
        return (_check_features(x) - self.mean) @ self.hyperplanes

    def encode(self, x) -> np.ndarray:
        return binarize(self.project(x))


UNSUPERVISED_BASELINES = {"itq": ITQ, "lsh": RandomHyperplaneLSH}
