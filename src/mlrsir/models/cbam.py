"""Convolutional Block Attention Module (Woo et al., ECCV 2018; MLRSIR-NET Eq. 1-3).

Channel attention (Eq. 1-2), one MLP ``C -> C/r -> C`` (ReLU) shared by both poolings::

    Mc = sigmoid(MLP(MaxPool(x)) + MLP(AvgPool(x)))          (B, C, 1, 1)
    x' = Mc * x

Spatial attention (Eq. 3), pooling across channels and a ``k x k`` convolution::

    Ms = sigmoid(conv_kxk([max_c(x'); mean_c(x')]))            (B, 1, H, W)
    x'' = Ms * x'
"""

from __future__ import annotations

import torch
from torch import nn


class CBAM(nn.Module):
    """``(B, C, H, W) -> (B, C, H, W)``, channel then spatial attention.

    After each forward, ``last_channel_gate`` ``(B, C, 1, 1)`` and ``last_spatial_gate``
    ``(B, 1, H, W)`` hold the (detached) gates, values in (0, 1), for inspection and
    heat maps.
    """

    def __init__(self, channels: int, reduction: int = 16, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels))
        self.spatial = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)
        self.last_channel_gate: torch.Tensor | None = None
        self.last_spatial_gate: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        mc = torch.sigmoid(self.mlp(x.amax(dim=(2, 3))) + self.mlp(x.mean(dim=(2, 3)))).view(b, c, 1, 1)
        x = mc * x
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        ms = torch.sigmoid(self.spatial(pooled))
        self.last_channel_gate = mc.detach()
        self.last_spatial_gate = ms.detach()
        return ms * x
