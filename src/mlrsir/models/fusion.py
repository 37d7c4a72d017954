"""Multi-level feature fusion: every level pooled to one grid, then concatenated.

MLRSIR-NET aggregates shallow (texture) and deep (semantic) feature maps before the
attention module. Levels have different spatial sizes (for a 100x100 input and
EfficientNet-Lite0: 13x13 at stride 8, 7x7 at stride 16, 4x4 at stride 32), so each one
is brought to ``pool_size x pool_size`` with adaptive average pooling and the maps are
concatenated along channels.

Why ``pool_size = 7`` by default: at the 100x100 input size used for UCM it is the
native size of the middle (stride-16) level, so that level is kept as is, the finer
level is averaged (no aliasing, unlike strided sampling) and the coarse level is
replicated (adaptive average pooling to a larger grid copies each cell, like
nearest-neighbour upsampling). 7x7 is also the standard ImageNet stride-32 grid, fine
enough for CBAM's 7x7 spatial attention and the heat maps, and small enough to cache the
aggregated maps of a frozen backbone for fast head training on the CPU
(1432 x 7 x 7 floats = 280 KB per image for EfficientNet-Lite0).

The pooling is written as two small matrix products (:func:`adaptive_avg_pool`), equal
to ``F.adaptive_avg_pool2d`` up to float rounding: PyTorch's CPU backward of adaptive
pooling to a *larger* grid (4x4 -> 7x7) took ~200 ms per batch of 64, more than the
trained MBConv stage itself, against ~30 ms for the matrix form (measured, 1 thread).
"""

from __future__ import annotations

import torch
from torch import nn

from mlrsir.errors import ConfigError


def adaptive_pool_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(n_out, n_in)`` averaging weights of 1-D adaptive average pooling: output cell
    ``i`` is the mean of input cells ``floor(i*n_in/n_out) .. ceil((i+1)*n_in/n_out) - 1``
    (PyTorch's definition); each row sums to 1."""
    m = torch.zeros(n_out, n_in, dtype=dtype, device=device)
    for i in range(n_out):
        start, stop = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
        m[i, start:stop] = 1.0 / (stop - start)
    return m


def adaptive_avg_pool(x: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, C, H, W) -> (B, C, size, size)``, the same values as
    ``F.adaptive_avg_pool2d(x, size)`` (up to float rounding)."""
    rows = adaptive_pool_matrix(x.shape[-2], size, x.dtype, x.device)
    cols = adaptive_pool_matrix(x.shape[-1], size, x.dtype, x.device)
    return torch.matmul(torch.matmul(rows, x), cols.t())


class MultiLevelFusion(nn.Module):
    """``list[(B, C_l, H_l, W_l)] -> (B, sum_l C_l, S, S)``; no parameters.

    Args:
        pool_size: output grid side ``S``.
        deepest_only: use only the last (deepest) level (single-level ablation).
    """

    def __init__(self, pool_size: int = 7, deepest_only: bool = False):
        super().__init__()
        if int(pool_size) < 1:
            raise ConfigError(f"pool_size={pool_size}: must be >= 1")
        self.pool_size = int(pool_size)
        self.deepest_only = deepest_only

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        return self.pool_levels(feats, first=0, total=len(feats))

    def pool_levels(self, feats: list[torch.Tensor], first: int, total: int) -> torch.Tensor:
        """The fused channels contributed by levels ``first .. first+len(feats)-1`` of a
        ``total``-level trunk (``(B, C, S, S)``; ``C`` may be 0, e.g. the frozen levels of
        a single-level model). Concatenating the parts of consecutive level ranges gives
        :meth:`forward` of all levels."""
        kept = [f for i, f in enumerate(feats, start=first) if not self.deepest_only or i == total - 1]
        if not kept:
            b = feats[0].shape[0]
            return feats[0].new_zeros((b, 0, self.pool_size, self.pool_size))
        return torch.cat([adaptive_avg_pool(f, self.pool_size) for f in kept], dim=1)

    def extra_repr(self) -> str:
        return f"pool_size={self.pool_size}, deepest_only={self.deepest_only}"
