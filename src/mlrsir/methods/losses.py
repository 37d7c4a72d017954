"""Pairwise and quantization losses on relaxed codes ``h (B, k)`` (shared by MLRSIR-NET and DHN).

Pairs. Every pairwise loss here enumerates the unordered pairs ``i < j`` of the batch
with :func:`batch_pairs` (the one pair-enumeration helper of :mod:`mlrsir.methods`; a
self-pair carries no supervision) and averages over them. For a symmetric pair term
the mean over ``i < j`` equals the mean over the ``B (B - 1)`` ordered pairs ``i != j``
used by the papers' sums. ``s_ij`` in {0, 1} comes from
:func:`mlrsir.metrics.relevance.similarity_matrix_torch` (1 iff images i and j share a
label).

* :class:`PairwiseEuclideanLoss`: MLRSIR-NET's pairwise loss on Euclidean distances
  (paper Sec. 3, Eq. 6; contrastive form).
* :func:`pairwise_likelihood_loss` / :class:`PairwiseLikelihoodLoss`: pairwise negative
  log-likelihood (DPSH, Li, Wang & Kang, IJCAI 2016, Eq. 4; DHN, Zhu et al., AAAI 2016,
  Eq. 3-4).
* :func:`quantization_loss`: pull each entry towards -1 or +1 (paper Sec. 3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mlrsir.metrics.relevance import similarity_matrix_torch


def batch_pairs(h: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All unordered pairs ``i < j`` of a batch.

    Args:
        h: ``(B, D)`` float relaxed codes (or any per-item outputs).
        labels: ``(B, C)`` multi-hot labels.

    Returns:
        ``(i, j, s)``: index tensors ``(P,)`` int64 and ``s (P,)`` float in {0, 1}
        (1 when items i and j share a label), ``P = B (B - 1) / 2`` (0 when B < 2).
    """
    if h.ndim != 2 or labels.ndim != 2 or h.shape[0] != labels.shape[0]:
        raise ValueError(
            f"expected h (B, k) and labels (B, C) with the same B, got {tuple(h.shape)} and {tuple(labels.shape)}"
        )
    i, j = torch.triu_indices(h.shape[0], h.shape[0], offset=1, device=h.device)
    s = similarity_matrix_torch(labels, labels).to(h.device, h.dtype)[i, j]
    return i, j, s


# ---------------------------------------------------------------------------- Euclidean
class PairwiseEuclideanLoss(nn.Module):
    """MLRSIR-NET pairwise loss on Euclidean distances (paper Sec. 3, Eq. 6; contrastive form).

    The paper pulls codes of similar images (sharing at least one label) together and
    pushes dissimilar ones apart; its Eq. 6 is not explicit, so we use the contrastive
    loss of Hadsell, Chopra & LeCun (CVPR 2006), as in DSH (Liu et al., CVPR 2016). For
    every pair ``i < j`` of the batch, with ``d_ij = ||h_i - h_j||_2`` and ``s_ij`` in
    {0, 1}::

        l_ij = s_ij * d_ij^2 + (1 - s_ij) * max(0, m - d_ij)^2
        L    = sum_ij w_ij l_ij / sum_ij w_ij          (w_ij = 1: plain mean over pairs)

    Default margin ``m = sqrt(2k)``: for binary codes in {-1, 1}^k, ``d^2 = 4 * Hamming``,
    so ``m = sqrt(2k)`` asks dissimilar pairs to differ in at least ``k/2`` bits, the
    expected Hamming distance between independent random codes (``m`` is
    ``2 sqrt(k) / sqrt(2)``, 71 % of the largest possible distance). It is a
    hyperparameter to tune on the validation split.

    ``forward(h (B, k) float, labels (B, C)) -> scalar`` (0 for a batch of one).

    Args:
        margin: ``m``; ``None`` = ``sqrt(2k)`` (see above).
        normalize: divide ``l_ij`` by ``k`` so that the loss scale (at most 4) does not
            depend on the code length; a pure rescaling.
        balance: weight pairs so that similar and dissimilar pairs each contribute half
            of the loss (``w_ij = 1/#similar`` or ``1/#dissimilar``); with one kind
            missing in the batch it is the plain mean.
    """

    def __init__(self, margin: float | None = None, normalize: bool = True, balance: bool = False):
        super().__init__()
        self.margin = margin
        self.normalize = normalize
        self.balance = balance

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        i, j, s = batch_pairs(h, labels)
        if s.numel() == 0:
            return h.sum() * 0.0
        k = h.shape[1]
        m = math.sqrt(2 * k) if self.margin is None else float(self.margin)
        d2 = (h[i] - h[j]).pow(2).sum(dim=1)
        d = d2.clamp_min(1e-12).sqrt()  # clamp: finite gradient for identical codes
        per_pair = s * d2 + (1 - s) * torch.relu(m - d).pow(2)
        if self.normalize:
            per_pair = per_pair / k
        if not self.balance:
            return per_pair.mean()
        n_sim = s.sum()
        n_dis = s.numel() - n_sim
        w = torch.where(s > 0, 1.0 / n_sim.clamp_min(1), 1.0 / n_dis.clamp_min(1))
        return (w * per_pair).sum() / w.sum()


# ---------------------------------------------------------------------------- likelihood
LIKELIHOOD_SCALE = 0.5  # DPSH's theta = <h_i, h_j> / 2


def pairwise_likelihood_loss(h: torch.Tensor, labels: torch.Tensor, scale: float = LIKELIHOOD_SCALE) -> torch.Tensor:
    """Pairwise negative log-likelihood (DPSH Eq. 4; DHN Eq. 3-4).

    With ``theta_ij = scale * <h_i, h_j>`` and ``p(s_ij = 1 | h) = sigmoid(theta_ij)``::

        l_ij = -(s_ij log sigmoid(theta_ij) + (1 - s_ij) log(1 - sigmoid(theta_ij)))
             = log(1 + exp(theta_ij)) - s_ij * theta_ij
        L    = mean over pairs i < j of l_ij

    computed with ``softplus`` (no overflow for large ``theta``). ``scale = 0.5`` is DPSH's
    ``theta = <u, v> / 2``; DHN calls the scale ``alpha``.

    Args:
        h: ``(B, k)`` float relaxed codes; labels: ``(B, C)`` multi-hot.
        scale: the factor of the inner product.

    Returns:
        Scalar tensor, >= 0; 0 (still in the graph) for a batch of one.
    """
    i, j, s = batch_pairs(h, labels)
    if s.numel() == 0:
        return h.sum() * 0.0
    theta = scale * (h[i] * h[j]).sum(dim=1)
    return (F.softplus(theta) - s * theta).mean()


class PairwiseLikelihoodLoss(nn.Module):
    """Module form of :func:`pairwise_likelihood_loss`:
    ``forward(h (B, k) float, labels (B, C)) -> scalar`` (0 for a batch of one)."""

    def __init__(self, scale: float = LIKELIHOOD_SCALE):
        super().__init__()
        self.scale = scale

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return pairwise_likelihood_loss(h, labels, self.scale)


# ---------------------------------------------------------------------------- quantization
def quantization_loss(h: torch.Tensor) -> torch.Tensor:
    """Quantisation loss (paper Sec. 3): ``h (B, k)`` float -> scalar ``mean((|h| - 1)^2)``,
    in [0, 1] for h in [-1, 1].

    For ``h != 0`` this equals ``||h - sign(h)||^2 / (B k)`` (because
    ``h - sign(h) = sign(h) (|h| - 1)``); at ``h = 0`` it gives 1 where the ``sign`` form
    gives 0 (``sign(0) = 0``), which is the right penalty for an undecided bit.
    """
    return (h.abs() - 1).pow(2).mean()
