"""Pair enumeration shared by the pairwise hashing losses."""

from __future__ import annotations

import torch

from mlrsir.metrics.relevance import similarity_matrix_torch


def batch_pairs(h: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All unordered pairs ``i < j`` of a batch.

    Args:
        h: ``(B, k)`` float relaxed codes.
        labels: ``(B, C)`` multi-hot labels.

    Returns:
        ``(i, j, s)``: index tensors ``(P,)`` int64 and ``s (P,)`` float in {0, 1}
        (1 when items i and j share a label), ``P = B (B - 1) / 2``.
    """
    if h.ndim != 2 or labels.ndim != 2 or h.shape[0] != labels.shape[0]:
        raise ValueError(f"expected h (B, k) and labels (B, C) with the same B, got {tuple(h.shape)} and {tuple(labels.shape)}")
    i, j = torch.triu_indices(h.shape[0], h.shape[0], offset=1, device=h.device)
    s = similarity_matrix_torch(labels, labels).to(h.device, h.dtype)[i, j]
    return i, j, s
