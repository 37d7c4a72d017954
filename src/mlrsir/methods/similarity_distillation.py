"""Label-free hashing objective: fit the codes' inner products to a pseudo-similarity.

The squared-error objective of SSDH (Yang, Deng, Liu, Liu & Tao, "Semantic Structure-based
Unsupervised Deep Hashing", IJCAI 2018, Sec. 3.2): with relaxed codes ``h (B, k)`` in
(-1, 1) and a target similarity ``t_ij`` in [-1, 1] derived from pretrained features,

    L_sd = mean_{i != j} ( h_i . h_j / k  -  t_ij )^2

(``h_i . h_j / k`` is in [-1, 1] and equals ``1 - 2 d_H / k`` for binary codes, so fitting it
to ``t`` orders Hamming distances as ``t`` orders pairs). SSDH thresholds ``t`` into {-1, 0, +1};
here the targets are graded (:class:`mlrsir.training.neighbour_targets.NeighbourTargets`).
The total is ``L = L_sd + quant_weight * Q(h)`` with ``Q`` the quantisation term of
:func:`mlrsir.methods.losses.quantization_loss` (as for NT-Xent in
:mod:`mlrsir.methods.contrastive`).
"""

from __future__ import annotations

import torch
from torch import nn

from mlrsir.errors import ConfigError
from mlrsir.methods.losses import quantization_loss


def similarity_distillation(h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``mean_{i != j} (h_i . h_j / k - t_ij)^2`` of ``h (B, k)`` and ``target (B, B)``; scalar >= 0."""
    if h.ndim != 2 or h.shape[0] < 2 or target.shape != (h.shape[0], h.shape[0]):
        raise ValueError(
            f"similarity_distillation: expected h (B, k) with B >= 2 and target (B, B), "
            f"got {tuple(h.shape)} and {tuple(target.shape)}"
        )
    b, k = h.shape
    inner = (h @ h.t()) / k
    off_diagonal = ~torch.eye(b, dtype=torch.bool, device=h.device)
    return (inner - target.to(h.dtype))[off_diagonal].pow(2).mean()


class SimilarityDistillationLoss(nn.Module):
    """``forward(h (B, k), target (B, B)) -> (total scalar, parts dict of floats)``.

    Args:
        quant_weight: weight of the quantisation term (>= 0).
    """

    def __init__(self, quant_weight: float = 0.01):
        super().__init__()
        if quant_weight < 0:
            raise ConfigError(f"quant_weight={quant_weight}: must be >= 0")
        self.quant_weight = float(quant_weight)

    def forward(self, h: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        fit = similarity_distillation(h, target)
        quant = quantization_loss(h)
        total = fit + self.quant_weight * quant
        return total, {
            "similarity_fit": float(fit.detach()),
            "ssl_quantization": float(quant.detach()),
            "ssl_total": float(total.detach()),
        }
