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

Defaults table. Each method's default hyperparameters live in one place, its class:
``defaults`` (or :meth:`Method.default_hparams` where a default depends on the code
length, e.g. DCH's gamma). :meth:`Method.resolve_hparams` completes given values with
them and checks names and values; the method constructor and
:func:`mlrsir.run.config.resolve_config` (which writes the resolved values to
``config.json``) both go through it.

Loss conventions shared by every pairwise loss: the papers' pairwise sums become a mean
over the pairs of the batch (a self-pair carries no supervision); pairs come from
:func:`mlrsir.methods.losses.batch_pairs` and ``s_ij`` from
:func:`mlrsir.metrics.relevance.similarity_matrix_torch` (1 iff the two images share a
label). ``parts`` maps term names to python floats (as ``HashingLoss`` does), with
``"total"`` always present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mlrsir.codes import binarize, check_code_length
from mlrsir.errors import ConfigError
from mlrsir.metrics.hamming import hamming_distance


def offdiagonal_mask(batch_size: int, device=None) -> torch.Tensor:
    """``(B, B)`` bool, True off the diagonal (the ordered pairs ``i != j``)."""
    return ~torch.eye(batch_size, dtype=torch.bool, device=device)


def cosine_matrix(h: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(B, D)`` -> ``(B, B)`` cosine similarities ``<h_i, h_j> / (|h_i| |h_j|)``, in [-1, 1]."""
    n = h.norm(dim=1, keepdim=True).clamp_min(eps)
    u = h / n
    return u @ u.t()


HASHING = "hashing"
QUANTIZATION = "quantization"
METHOD_KINDS = (HASHING, QUANTIZATION)


class Method:
    """Base class; subclasses set the class attributes and implement :meth:`loss`.

    Facts every method class carries (read by the report, the trainer and the CLI, so
    nothing branches on a method's name):

    * ``name``: registry key (lower case), ``title``: the name printed in reports
      (the paper's spelling, e.g. ``"MLRSIR-NET"``);
    * ``kind``: :data:`HASHING` (binary codes ranked by Hamming distance) or
      :data:`QUANTIZATION` (PQ codes ranked by asymmetric quantizer distance);
    * ``retrieval``: the ranking distance, ``"hamming"`` or ``"aqd"`` (stored in runs);
    * ``needs_refit``: True when :meth:`refit` updates codebooks and must run once per epoch.
    """

    name: str = ""
    title: str = ""
    kind: str = ""  # HASHING | QUANTIZATION
    retrieval: str = ""  # "hamming" | "aqd"
    needs_refit: bool = False
    activation: str = "tanh"
    # the method's row of the defaults table (see the module docstring)
    defaults: dict[str, Any] = {}
    # hyperparameters accepted without a default: in ``hparams`` only when given
    options: tuple[str, ...] = ()

    def __init__(self, bits: int, **hparams):
        self.hparams: dict[str, Any] = self.resolve_hparams(bits, **hparams)
        self.bits = int(bits)

    # defaults may depend on the code length (e.g. DCH's gamma)
    @classmethod
    def default_hparams(cls, bits: int) -> dict[str, Any]:
        return dict(cls.defaults)

    @classmethod
    def resolve_hparams(cls, bits: int, **hparams) -> dict[str, Any]:
        """The method's defaults for ``bits`` updated with ``hparams``, checked.

        Raises :class:`ConfigError` for an unusable code length, an unknown
        hyperparameter name or a value :meth:`check_hparams` refuses.
        """
        bits = check_code_length(bits)
        defaults = cls.default_hparams(bits)
        accepted = set(defaults) | set(cls.options)
        unknown = sorted(set(hparams) - accepted)
        if unknown:
            raise ConfigError(f"method {cls.name!r}: unknown hyperparameter(s) {unknown}; accepted: {sorted(accepted)}")
        resolved = {**defaults, **hparams}
        cls.check_hparams(bits, resolved)
        return resolved

    @classmethod
    def check_hparams(cls, bits: int, hparams: dict[str, Any]) -> None:
        """Check resolved values (and the code length) for this method; raise ConfigError."""

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

    kind = HASHING
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
