"""MLRSIR-NET: multi-level backbone features + CBAM + hash layer (Moustafa et al.).

The network is split in two so that a frozen backbone can be run once and its output
cached::

    aggregate(x): (B, 3, H, W) -> (B, C_agg, S, S)   backbone + multi-level fusion (expensive)
    head(agg):    (B, C_agg, S, S) -> (B, D)          CBAM (Eq. 1-3) + hash layer (Eq. 4) (cheap)
    forward(x) = head(aggregate(x))

``head`` is a pure function of the aggregated map (no access to ``x``), so training the
head on cached aggregates is exactly training the full model with a frozen backbone
(in eval mode).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlrsir.models.backbones import build_backbone
from mlrsir.models.cbam import CBAM
from mlrsir.models.fusion import MultiLevelFusion
from mlrsir.models.hash_head import HashHead


class MLRSIRNet(nn.Module):
    """The MLRSIR-NET hashing network.

    Args:
        backbone: name for :func:`mlrsir.models.backbones.build_backbone`.
        bits: code length ``k``.
        weights: ``"imagenet"`` or ``"none"`` (backbone initialisation).
        multi_level: fuse all backbone levels (True) or use only the deepest (False).
        use_cbam: apply CBAM before the hash layer (False: identity).
        hidden: width of the hidden FC layer of the hash head (paper: 500).
        out_dim: output width ``D``; defaults to ``bits`` (quantisation baselines use
            another width).
        activation: ``"tanh"`` (relaxed codes in (-1, 1)) or ``"identity"``.
        pool_size: side ``S`` of the fused grid (see :mod:`mlrsir.models.fusion`).
        dropout: dropout after the hidden FC layer (default 0).

    Input ``x``: ImageNet-normalised float32 ``(B, 3, H, W)``.
    """

    def __init__(
        self,
        backbone: str = "efficientnet_lite0",
        bits: int = 32,
        weights: str = "imagenet",
        multi_level: bool = True,
        use_cbam: bool = True,
        hidden: int = 500,
        out_dim: int | None = None,
        activation: str = "tanh",
        pool_size: int = 7,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.bits = int(bits)
        self.out_dim = int(out_dim) if out_dim is not None else self.bits
        self.config = {
            "backbone": backbone,
            "bits": self.bits,
            "weights": weights,
            "multi_level": bool(multi_level),
            "use_cbam": bool(use_cbam),
            "hidden": int(hidden),
            "out_dim": self.out_dim,
            "activation": activation,
            "pool_size": int(pool_size),
            "dropout": float(dropout),
        }
        self.backbone = build_backbone(backbone, weights)
        self.fusion = MultiLevelFusion(pool_size, deepest_only=not multi_level)
        channels = [info["num_chs"] for info in self.backbone.feature_info]
        self._aggregate_channels = channels[-1] if not multi_level else sum(channels)
        self.cbam = CBAM(self._aggregate_channels) if use_cbam else None
        self.hash_head = HashHead(
            self._aggregate_channels, self.out_dim, hidden=hidden, activation=activation, dropout=dropout
        )

    @property
    def aggregate_channels(self) -> int:
        """``C_agg``: channels of :meth:`aggregate`'s output."""
        return self._aggregate_channels

    @property
    def pool_size(self) -> int:
        return self.fusion.pool_size

    def aggregate(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, C_agg, S, S)`` float32: backbone levels fused."""
        return self.fusion(self.backbone(x))

    def frozen_trunk(self, x: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What top-``top`` fine-tuning caches per image: ``(pooled, last)`` where
        ``pooled`` ``(B, C_frozen, S, S)`` is the fused share of the frozen levels and
        ``last`` ``(B, C_l, H_l, W_l)`` the deepest frozen level, input of the trained stages."""
        levels = self.backbone.forward_until(x, top)
        total = len(self.backbone.feature_info)
        return self.fusion.pool_levels(levels, first=0, total=total), levels[-1]

    def aggregate_from(self, pooled: torch.Tensor, last: torch.Tensor, top: int) -> torch.Tensor:
        """``(B, C_agg, S, S)`` from :meth:`frozen_trunk`'s output, running only the top
        ``top`` stages: equal to :meth:`aggregate` of the image."""
        total = len(self.backbone.feature_info)
        top_levels = self.backbone.forward_from(last, top)
        return torch.cat([pooled, self.fusion.pool_levels(top_levels, first=total - top, total=total)], dim=1)

    def head(self, agg: torch.Tensor) -> torch.Tensor:
        """``(B, C_agg, S, S) -> (B, D)``: CBAM (if enabled) then the hash layer."""
        if self.cbam is not None:
            agg = self.cbam(agg)
        return self.hash_head(agg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W) -> (B, D)``; in (-1, 1) with the tanh activation."""
        return self.head(self.aggregate(x))

    def spatial_attention(self, x: torch.Tensor) -> torch.Tensor:
        """CBAM spatial gate ``Ms`` upsampled (bilinear) to the input size.

        Returns ``(B, 1, H, W)`` float32 in (0, 1); all ones when ``use_cbam=False``.
        """
        if self.cbam is None:
            return torch.ones(x.shape[0], 1, x.shape[2], x.shape[3], dtype=x.dtype, device=x.device)
        self.cbam(self.aggregate(x))
        gate = self.cbam.last_spatial_gate
        return F.interpolate(gate, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def backbone_parameters(self) -> list[nn.Parameter]:
        """Parameters of the backbone (for a smaller fine-tuning learning rate)."""
        return list(self.backbone.parameters())

    def top_parameters(self, top: int) -> list[nn.Parameter]:
        """Backbone parameters trained by top-``top`` fine-tuning."""
        return [p for module in self.backbone.top_modules(top) for p in module.parameters()]

    def head_parameters(self) -> list[nn.Parameter]:
        """Parameters of CBAM and the hash layer (everything after :meth:`aggregate`)."""
        params = list(self.hash_head.parameters())
        if self.cbam is not None:
            params = list(self.cbam.parameters()) + params
        return params
