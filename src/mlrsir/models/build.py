"""Building the network of a run from its configuration (training and inference alike).

A multispectral run (``config.bands`` selecting other than R, G, B in that order) gets its
first convolution widened to the number of bands (:mod:`mlrsir.models.input_spec`,
:func:`mlrsir.models.in_chans.widen_first_conv`, ``init="mean"``), after the backbone
weights are loaded, so a saved 12-band ``model.safetensors`` reloads with the right shape.
8-bit RGB runs are built exactly as before.
"""

from __future__ import annotations

from typing import Any

from mlrsir.models.in_chans import widen_first_conv
from mlrsir.models.input_spec import input_spec
from mlrsir.models.mlrsir_net import MLRSIRNet

#: The ``TrainConfig`` fields that shape the network (each an ``MLRSIRNet`` argument of the
#: same name); the method sets the head's ``out_dim`` and ``activation``.
NETWORK_FIELDS = ("backbone", "bits", "weights", "multi_level", "use_cbam", "hidden", "pool_size")


def build_model(config: Any, method: Any) -> MLRSIRNet:
    """The ``MLRSIRNet`` of a ``TrainConfig`` with the head shaped for ``method``
    (its ``out_dim`` and ``activation``)."""
    shape = {name: getattr(config, name) for name in NETWORK_FIELDS}
    net = MLRSIRNet(**shape, out_dim=method.out_dim, activation=method.activation)

    spec = input_spec(config)
    if spec.widened:
        widen_first_conv(net, spec.in_chans, rgb=spec.rgb, init="mean")
    return net
