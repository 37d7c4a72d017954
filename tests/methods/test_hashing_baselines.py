"""DHN and DCH losses against per-pair python loops; gradients; Hamming retrieval."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlrsir.codes import binarize
from mlrsir.methods.dch import DCH, dch_class_weights, dch_pairwise_loss, dch_quantization_loss
from mlrsir.methods.dhn import DHN, dhn_pairwise_loss, dhn_quantization_loss
from mlrsir.metrics.hamming import hamming_distance


def _batch(b=7, k=12, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.tanh(torch.randn(b, k, generator=g, dtype=torch.float64) * 1.5)
    labels = (torch.rand(b, c, generator=g) < 0.35).float()
    labels[0] = 0.0
    labels[0, 0] = 1.0
    labels[1] = labels[0]  # guarantee one similar pair
    labels[2] = 0.0
    labels[2, 3] = 1.0  # and one dissimilar
    return h, labels


def _sim(labels, i, j):
    return 1.0 if float((labels[i] * labels[j]).sum()) > 0 else 0.0


def _cos(a, b):
    return float(a @ b) / (float(a.norm()) * float(b.norm()))


# ------------------------------------------------------------------ DHN
def test_dhn_pairwise_loss_matches_loop():
    h, labels = _batch()
    alpha = 0.3
    b = h.shape[0]
    total = 0.0
    for i in range(b):
        for j in range(b):
            if i == j:
                continue
            a = alpha * float(h[i] @ h[j])
            total += math.log(1.0 + math.exp(a)) - _sim(labels, i, j) * a
    expected = total / (b * (b - 1))
    assert float(dhn_pairwise_loss(h, labels, alpha)) == pytest.approx(expected, rel=1e-10)


def test_dhn_quantization_loss_matches_loop():
    h, _ = _batch()
    vals = [math.log(math.cosh(abs(float(x)) - 1.0)) for x in h.flatten()]
    assert float(dhn_quantization_loss(h)) == pytest.approx(sum(vals) / len(vals), rel=1e-10)


def test_dhn_total_and_gradient():
    h, labels = _batch()
    m = DHN(12, alpha=0.4, quant_weight=0.7)
    hh = h.clone().requires_grad_(True)
    total, parts = m.loss(hh, labels)
    assert float(total.detach()) == pytest.approx(parts["pairwise"] + 0.7 * parts["quantization"], rel=1e-10)
    total.backward()
    assert hh.grad is not None and torch.isfinite(hh.grad).all() and hh.grad.abs().sum() > 0


def test_dhn_default_alpha_is_the_validated_one_and_search_space_scales_with_bits():
    assert DHN(32).hparams["alpha"] == pytest.approx(0.5)  # chosen on the validation split
    assert DHN(12).search_space["alpha"] == [pytest.approx(10 / 12), 0.5]


# ------------------------------------------------------------------ DCH
def test_dch_class_weights_sum_as_documented():
    _, labels = _batch(b=9)
    from mlrsir.metrics.relevance import similarity_matrix_torch

    s = similarity_matrix_torch(labels, labels)
    w = dch_class_weights(s)
    b = s.shape[0]
    n_all = b * (b - 1)
    off = ~torch.eye(b, dtype=torch.bool)
    n_sim = int(s[off].sum())
    assert 0 < n_sim < n_all
    assert float(w.diagonal().abs().sum()) == 0.0
    # similar pairs carry |S|/|S1|, dissimilar |S|/|S0|; each class sums to |S|
    assert float(w[off & (s > 0)].sum()) == pytest.approx(n_all)
    assert float(w[off & (s == 0)].sum()) == pytest.approx(n_all)
    assert float(w.sum()) == pytest.approx(2 * n_all)
    # only one class present: its weight is 1 and the weights sum to |S|
    w1 = dch_class_weights(torch.ones(4, 4))
    assert float(w1.sum()) == pytest.approx(12.0)


def test_dch_pairwise_loss_matches_paper_formula_loop():
    h, labels = _batch()
    gamma = 5.0
    b, k = h.shape
    pairs = [(i, j) for i in range(b) for j in range(b) if i != j]
    n_sim = sum(_sim(labels, i, j) for i, j in pairs)
    n_all = len(pairs)
    total = 0.0
    for i, j in pairs:
        s = _sim(labels, i, j)
        w = n_all / n_sim if s else n_all / (n_all - n_sim)
        d = k / 2 * (1 - _cos(h[i], h[j]))
        # DCH Eq. 6 as printed: s log(d / gamma) + log(1 + gamma / d)
        total += w * (s * math.log(d / gamma) + math.log(1 + gamma / d))
    expected = total / n_all
    assert float(dch_pairwise_loss(h, labels, gamma)) == pytest.approx(expected, rel=1e-9)


def test_dch_identical_dissimilar_codes_stay_finite():
    h = torch.tensor([[1.0, -1.0, 1.0], [1.0, -1.0, 1.0]], requires_grad=True)
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = dch_pairwise_loss(h, labels, 2.0)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(h.grad).all()


def test_dch_quantization_loss_matches_loop():
    h, _ = _batch()
    gamma = 3.0
    k = h.shape[1]
    vals = []
    for row in h:
        a = row.abs()
        d = k / 2 * (1 - _cos(a, torch.ones_like(a)))
        vals.append(math.log(1 + d / gamma))
    assert float(dch_quantization_loss(h, gamma)) == pytest.approx(sum(vals) / len(vals), rel=1e-9)
    # binary codes have no quantization loss
    assert float(dch_quantization_loss(torch.tensor([[1.0, -1.0, -1.0]]), gamma)) == pytest.approx(0.0, abs=1e-7)


def test_dch_total_and_gradient():
    h, labels = _batch()
    m = DCH(12, gamma=4.0, quant_weight=0.5)
    hh = h.clone().requires_grad_(True)
    total, parts = m.loss(hh, labels)
    assert float(total.detach()) == pytest.approx(parts["pairwise"] + 0.5 * parts["quantization"], rel=1e-10)
    total.backward()
    assert torch.isfinite(hh.grad).all() and hh.grad.abs().sum() > 0
    assert DCH(64).hparams["gamma"] == pytest.approx(20.0)


# ------------------------------------------------------------------ retrieval
@pytest.mark.parametrize("cls", [DHN, DCH])
def test_hamming_retrieval_equals_hamming_on_binarized_outputs(cls):
    rng = np.random.default_rng(0)
    m = cls(16)
    db_out = rng.normal(size=(30, 16)).astype(np.float32)
    q_out = rng.normal(size=(5, 16)).astype(np.float32)
    db = m.encode_database(db_out)
    np.testing.assert_array_equal(db, binarize(db_out))
    np.testing.assert_array_equal(m.distances(q_out, db), hamming_distance(binarize(q_out), binarize(db_out)))
    m.refit(db_out, None)  # no-op
    assert m.state_dict() == {}
