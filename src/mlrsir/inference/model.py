"""Building the network of a run from its configuration (training and inference alike)."""

from __future__ import annotations

from typing import Any

from mlrsir.models.mlrsir_net import MLRSIRNet


def build_model(config: Any, method: Any) -> MLRSIRNet:
    """The ``MLRSIRNet`` of a ``TrainConfig`` with the head shaped for ``method``
    (its ``out_dim`` and ``activation``)."""
    return MLRSIRNet(
        backbone=config.backbone,
        bits=config.bits,
        weights=config.weights,
        multi_level=config.multi_level,
        use_cbam=config.use_cbam,
        hidden=config.hidden,
        out_dim=method.out_dim,
        activation=method.activation,
        pool_size=config.pool_size,
    )
