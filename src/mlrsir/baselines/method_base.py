"""Common interface of the retrieval methods (MLRSIR and the baselines).

All methods share one network (``MLRSIRNet(out_dim=method.out_dim,
activation=method.activation)``); a method only defines

* ``loss(out, labels) -> (scalar, parts)`` on the head output ``out (B, D)``,
* ``refit(train_outputs, train_labels)``: codebook update once per epoch (and once before
  the first epoch); a no-op for hashing methods,
* ``encode_database(outputs)``: database representation (binary codes or PQ codes),
* ``distances(query_outputs, db) -> (Q, N)``: ranking distance, smaller = closer,
* ``state_dict()`` / ``load_state_dict(d)``: codebooks as tensors (safetensors),
* ``hparams`` (resolved, JSON-serialisable; ``get_method(name, bits, **hparams)``
  rebuilds the same method) and ``search_space`` (a grid of exactly 4 candidate
  configurations for every method, so every method gets the same tuning budget).

Loss conventions shared by every pairwise loss here: pairs are the ``B (B - 1)`` ordered
pairs ``i != j`` of the batch (a self-pair carries no supervision) and the pairwise sum
of the papers becomes a mean over them; ``s_ij`` comes from
:func:`mlrsir.metrics.relevance.similarity_matrix_torch` (1 iff the two images share a
label). ``parts`` maps term names to python floats (as ``HashingLoss`` does), with
``"total"`` always present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlrsir.codes import binarize
from mlrsir.errors import ConfigError
from mlrsir.metrics.hamming import hamming_distance


def offdiagonal_mask(batch_size: int, device=None) -> torch.Tensor:
    """``(B, B)`` bool, True off the diagonal (the ordered pairs ``i != j``)."""
    return ~torch.eye(batch_size, dtype=torch.bool, device=device)


def pair_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of a ``(B, B)`` matrix over ``i != j``; 0 (still in the graph) when B < 2."""
    b = values.shape[0]
    if b < 2:
        return values.sum() * 0.0
    return values[offdiagonal_mask(b, values.device)].mean()


def cosine_matrix(h: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(B, D)`` -> ``(B, B)`` cosine similarities ``<h_i, h_j> / (|h_i| |h_j|)``, in [-1, 1]."""
    n = h.norm(dim=1, keepdim=True).clamp_min(eps)
    u = h / n
    return u @ u.t()


class Method:
    """Base class; subclasses set the class attributes and implement :meth:`loss`."""

    name: str = ""
    retrieval: str = ""  # "hamming" | "aqd"
    activation: str = "tanh"
    defaults: dict[str, Any] = {}

    def __init__(self, bits: int, **hparams):
        if not isinstance(bits, (int, np.integer)) or isinstance(bits, bool) or bits <= 0:
            raise ConfigError(f"bits={bits!r}: the code length must be a positive integer")
        self.bits = int(bits)
        unknown = sorted(set(hparams) - set(self.default_hparams()))
        if unknown:
            raise ConfigError(
                f"method {self.name!r}: unknown hyperparameter(s) {unknown}; "
                f"accepted: {sorted(self.default_hparams())}"
            )
        self.hparams: dict[str, Any] = {**self.default_hparams(), **hparams}

    # defaults may depend on the code length (e.g. DCH's gamma)
    def default_hparams(self) -> dict[str, Any]:
        return dict(self.defaults)

    @property
    def out_dim(self) -> int:
        return self.bits

    @property
    def search_space(self) -> dict[str, list]:
        return {}

    def loss(self, out: torch.Tensor, labels: torch.Tensor):  # pragma: no cover - abstract
        raise NotImplementedError

    def refit(self, train_outputs: np.ndarray, train_labels: np.ndarray | None = None) -> None:
        """Codebook update; no-op by default."""

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict) -> None:
        if state:
            raise ConfigError(f"method {self.name!r} has no saved state, got keys {sorted(state)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits}, {self.hparams})"


class HammingMethod(Method):
    """Hashing methods: tanh outputs of width ``bits``, codes = binarize (paper Eq. 5),
    ranking by Hamming distance."""

    retrieval = "hamming"
    activation = "tanh"

    def encode_database(self, outputs) -> np.ndarray:
        """``(N, bits)`` float -> ``(N, bits)`` uint8 in {0, 1}."""
        out = np.asarray(outputs)
        if out.ndim != 2 or out.shape[1] != self.out_dim:
            raise ValueError(f"outputs: expected shape (N, {self.out_dim}), got {out.shape}")
        return binarize(out)

    def distances(self, query_outputs, db_codes) -> np.ndarray:
        """Hamming distances ``(Q, N)`` int32 between binarized queries and db codes."""
        return hamming_distance(self.encode_database(query_outputs), db_codes)


def to_numpy_f32(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float32)
