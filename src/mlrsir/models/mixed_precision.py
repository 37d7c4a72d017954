"""bfloat16 autocast for training, with depthwise convolutions kept in fp32.

:func:`bf16_autocast` runs a block of forward code under ``torch.autocast(device,
torch.bfloat16)`` (convolutions and matrix products in bfloat16, AVX-512 BF16 / AMX kernels
on CPU; weights stay fp32), except the depthwise convolutions (``groups > 1``) of ``model``,
which run in fp32 on fp32 inputs. Measured on this project's 2-core AVX-512 BF16 CPU (no AMX,
``mlrsir bench finetune-step``): oneDNN's bf16 depthwise backward is 3-9x slower than its
fp32 one while bf16 pointwise convolutions are 2-4x faster, so plain autocast made the
top-stage step 0.67x as fast as fp32 and this policy makes it faster than fp32.

The convolutions' ``forward`` is replaced on the module instances for the duration of the
block only (restored on exit, also on error); backward, run after the block, follows the
dtypes recorded in the graph. Outside the block, and with ``enabled=False``, nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


def depthwise_convolutions(model: nn.Module) -> list[nn.Conv2d]:
    """The grouped (depthwise) ``Conv2d`` modules of ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]


def _fp32_forward(conv: nn.Conv2d, device_type: str) -> Callable[[torch.Tensor], torch.Tensor]:
    forward = conv.forward

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, enabled=False):
            return forward(x.float())

    return run


@contextmanager
def bf16_autocast(model: nn.Module, device_type: str = "cpu", enabled: bool = True) -> Iterator[None]:
    """bfloat16 autocast for ``model``'s forward pass, depthwise convolutions in fp32 (module doc)."""
    if not enabled:
        yield
        return
    convs = depthwise_convolutions(model)
    for conv in convs:
        conv.forward = _fp32_forward(conv, device_type)  # type: ignore[method-assign]
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield
    finally:
        for conv in convs:
            del conv.forward
