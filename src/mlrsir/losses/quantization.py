"""Quantisation loss: pull each relaxed code entry towards -1 or +1 (paper Sec. 3).

    Q(h) = mean over entries of (|h| - 1)^2

For ``h != 0`` this equals ``||h - sign(h)||^2 / (B k)`` (because
``h - sign(h) = sign(h) (|h| - 1)``); at ``h = 0`` it gives 1 where the ``sign`` form
gives 0 (``sign(0) = 0``), which is the right penalty for an undecided bit.
"""

from __future__ import annotations

import torch
from torch import nn


def quantization_loss(h: torch.Tensor) -> torch.Tensor:
    """``h (B, k)`` float -> scalar ``mean((|h| - 1)^2)``, in [0, 1] for h in [-1, 1]."""
    return (h.abs() - 1).pow(2).mean()


class QuantizationLoss(nn.Module):
    """Module form; ``labels`` is accepted for a uniform loss signature and ignored."""

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return quantization_loss(h)
