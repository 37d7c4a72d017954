"""Issue 25: the similarity-distillation hashing loss against a per-pair reference loop."""

from __future__ import annotations

import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.methods.similarity_distillation import SimilarityDistillationLoss, similarity_distillation


def _reference(h, t):
    """mean over ordered pairs i != j of (h_i . h_j / k - t_ij)^2, written pair by pair."""
    b, k = h.shape
    terms = [(float(h[i] @ h[j]) / k - float(t[i, j])) ** 2 for i in range(b) for j in range(b) if i != j]
    return sum(terms) / len(terms)


def test_matches_per_pair_loop():
    g = torch.Generator().manual_seed(5)
    h = torch.tanh(torch.randn(6, 12, generator=g, dtype=torch.float64))
    t = torch.rand(6, 6, generator=g, dtype=torch.float64) * 2 - 1
    t = (t + t.T) / 2
    assert float(similarity_distillation(h, t)) == pytest.approx(_reference(h, t), rel=1e-12)


def test_hand_value_and_the_diagonal_is_ignored():
    # two 2-bit codes (1, 1) and (1, -1): inner product 0 -> (0 - 0.5)^2 for both ordered pairs
    h = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    t = torch.tensor([[-7.0, 0.5], [0.5, 9.0]])  # the diagonal (self-pairs) must not count
    assert float(similarity_distillation(h, t)) == pytest.approx(0.25)
    # codes that reproduce the target exactly: zero loss, and the quantisation term is 0 at |h| = 1
    total, parts = SimilarityDistillationLoss(quant_weight=0.5)(h, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert float(total) == pytest.approx(0.0) and parts["ssl_quantization"] == pytest.approx(0.0)


def test_quantisation_weight_and_gradients():
    g = torch.Generator().manual_seed(1)
    h = torch.tanh(torch.randn(4, 8, generator=g)).requires_grad_(True)
    t = torch.zeros(4, 4)
    total, parts = SimilarityDistillationLoss(quant_weight=0.25)(h, t)
    assert float(total.detach()) == pytest.approx(parts["similarity_fit"] + 0.25 * parts["ssl_quantization"], rel=1e-6)
    total.backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"target \(B, B\)"):
        similarity_distillation(torch.zeros(3, 4), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="B >= 2"):
        similarity_distillation(torch.zeros(1, 4), torch.zeros(1, 1))
    with pytest.raises(ConfigError, match=">= 0"):
        SimilarityDistillationLoss(quant_weight=-1)
