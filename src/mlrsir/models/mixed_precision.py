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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn

BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags of native bf16 arithmetic (without them oneDNN emulates bf16, slowly)."""


def cpu_bf16_flags() -> list[str]:
    """The CPU's bf16 / AMX / VNNI feature flags from ``/proc/cpuinfo`` (``[]`` where unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return []
    return sorted({x for x in flags if x.startswith("amx") or x in ("avx512_bf16", "avx512_vnni")})


def cpu_has_bf16() -> bool:
    """Whether the CPU does bf16 arithmetic natively (:data:`BF16_FLAGS`)."""
    return any(flag in BF16_FLAGS for flag in cpu_bf16_flags())


def depthwise_convolutions(model: nn.Module) -> list[nn.Conv2d]:
    """The grouped (depthwise) ``Conv2d`` modules of ``model``, in module order."""
    from torch import nn  # noqa: PLC0415 (torch loads with a model, not with the config)

    return [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]


def _fp32_forward(conv: nn.Conv2d, device_type: str) -> Callable[[torch.Tensor], torch.Tensor]:
    import torch  # noqa: PLC0415 (torch loads with a model, not with the config)

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
    import torch  # noqa: PLC0415 (torch loads with a model, not with the config)

    convs = depthwise_convolutions(model)
    for conv in convs:
        conv.forward = _fp32_forward(conv, device_type)  # type: ignore[method-assign]
    try:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            yield
    finally:
        for conv in convs:
            del conv.forward
