"""Pairwise negative log-likelihood (DPSH, Li, Wang & Kang, IJCAI 2016, Eq. 4; DHN, Zhu et al., AAAI 2016).

With ``theta_ij = 0.5 <h_i, h_j>`` and ``p(s_ij = 1 | h) = sigmoid(theta_ij)``::

    l_ij = -(s_ij log sigmoid(theta_ij) + (1 - s_ij) log(1 - sigmoid(theta_ij)))
         = log(1 + exp(theta_ij)) - s_ij * theta_ij
    L    = mean over pairs i < j of l_ij

computed with ``softplus`` (no overflow for large ``theta``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlrsir.losses.pairs import batch_pairs


class PairwiseLikelihoodLoss(nn.Module):
    """``forward(h (B, k) float, labels (B, C)) -> scalar`` (0 for a batch of one)."""

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        i, j, s = batch_pairs(h, labels)
        if s.numel() == 0:
            return h.sum() * 0.0
        theta = 0.5 * (h[i] * h[j]).sum(dim=1)
        return (F.softplus(theta) - s * theta).mean()
