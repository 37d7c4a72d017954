"""MLRSIR-NET pairwise loss on Euclidean distances (paper Sec. 3, Eq. 6; contrastive form).

The paper pulls codes of similar images (sharing at least one label) together and pushes
dissimilar ones apart; its Eq. 6 is not explicit, so we use the contrastive loss of
Hadsell, Chopra & LeCun (CVPR 2006), as in DSH (Liu et al., CVPR 2016). For every pair
``i < j`` of the batch, with ``d_ij = ||h_i - h_j||_2`` and ``s_ij`` in {0, 1}::

    l_ij = s_ij * d_ij^2 + (1 - s_ij) * max(0, m - d_ij)^2
    L    = sum_ij w_ij l_ij / sum_ij w_ij          (w_ij = 1: plain mean over pairs)

Default margin ``m = sqrt(2k)``: for binary codes in {-1, 1}^k, ``d^2 = 4 * Hamming``,
so ``m = sqrt(2k)`` asks dissimilar pairs to differ in at least ``k/2`` bits, the
expected Hamming distance between independent random codes (``m`` is
``2 sqrt(k) / sqrt(2)``, 71 % of the largest possible distance). It is a hyperparameter
to tune on the validation split.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mlrsir.losses.pairs import batch_pairs


class PairwiseEuclideanLoss(nn.Module):
    """``forward(h (B, k) float, labels (B, C)) -> scalar`` (0 for a batch of one).

    Args:
        margin: ``m``; ``None`` = ``sqrt(2k)`` (see module docstring).
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
