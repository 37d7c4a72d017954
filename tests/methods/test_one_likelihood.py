"""DHN's pairwise loss and MLRSIR-NET's ``likelihood`` loss are one implementation:
both against the same per-pair python loop (issue 9)."""

from __future__ import annotations

import math

import pytest
import torch

from mlrsir.methods.dhn import DHN, dhn_pairwise_loss
from mlrsir.methods.dqn import dqn_cosine_loss
from mlrsir.methods.losses import PairwiseLikelihoodLoss, pairwise_likelihood_loss
from mlrsir.methods.registry import get_method


def _batch(b=9, k=16, c=5, seed=3):
    g = torch.Generator().manual_seed(seed)
    h = torch.tanh(1.5 * torch.randn(b, k, generator=g, dtype=torch.float64))
    labels = (torch.rand(b, c, generator=g) < 0.35).to(torch.float64)
    labels[0] = 0  # no label: dissimilar to every item
    labels[1] = labels[2]  # at least one similar pair when labels[2] is not empty
    labels[2, 0] = labels[1, 0] = 1
    return h, labels


def _likelihood_loop(h, labels, scale):
    hl, ll = h.tolist(), labels.tolist()
    terms = []
    for i in range(len(hl)):
        for j in range(len(hl)):
            if i == j:
                continue  # the papers' ordered pairs i != j
            s = 1.0 if any(x > 0 and y > 0 for x, y in zip(ll[i], ll[j])) else 0.0
            theta = scale * sum(x * y for x, y in zip(hl[i], hl[j]))
            terms.append(math.log1p(math.exp(theta)) - s * theta)
    return sum(terms) / len(terms)


def test_dhn_default_alpha_and_mlrsir_likelihood_give_the_loop_value():
    h, labels = _batch()
    expected = _likelihood_loop(h, labels, 0.5)
    dhn = get_method("dhn", 16)
    assert dhn.hparams["alpha"] == 0.5
    mlrsir = get_method("mlrsir", 16)
    assert mlrsir.hparams["pairwise"] == "likelihood"
    dhn_value = dhn_pairwise_loss(h, labels, dhn.hparams["alpha"]).item()
    mlrsir_value = mlrsir.criterion.pairwise(h, labels).item()
    assert dhn_value == pytest.approx(expected, rel=1e-12)
    assert mlrsir_value == pytest.approx(expected, rel=1e-12)
    assert dhn_value == mlrsir_value  # the same code path, bit for bit
    assert PairwiseLikelihoodLoss()(h, labels).item() == mlrsir_value


@pytest.mark.parametrize("alpha", [10.0 / 16, 0.1, 2.0])
def test_dhn_other_alphas_match_the_loop(alpha):
    h, labels = _batch(seed=5)
    assert dhn_pairwise_loss(h, labels, alpha).item() == pytest.approx(_likelihood_loop(h, labels, alpha), rel=1e-12)
    assert pairwise_likelihood_loss(h, labels, alpha).item() == dhn_pairwise_loss(h, labels, alpha).item()


def test_dhn_method_loss_uses_the_shared_likelihood():
    h, labels = _batch()
    m = DHN(16)
    total, parts = m.loss(h, labels)
    assert parts["pairwise"] == pytest.approx(_likelihood_loop(h, labels, 0.5), rel=1e-12)


def test_batches_of_one_give_zero_in_the_graph():
    h = torch.zeros(1, 8, requires_grad=True)
    labels = torch.ones(1, 3)
    for value in (dhn_pairwise_loss(h, labels, 0.5), pairwise_likelihood_loss(h, labels), dqn_cosine_loss(h, labels)):
        assert value.item() == 0.0
        value.backward()


def test_dqn_cosine_loss_matches_the_ordered_pair_loop():
    h, labels = _batch()
    hl, ll = h.tolist(), labels.tolist()
    terms = []
    for i in range(len(hl)):
        for j in range(len(hl)):
            if i != j:
                s = 1.0 if any(x > 0 and y > 0 for x, y in zip(ll[i], ll[j])) else -1.0
                cos = sum(a * b for a, b in zip(hl[i], hl[j])) / (math.hypot(*hl[i]) * math.hypot(*hl[j]))
                terms.append((s - cos) ** 2)
    assert dqn_cosine_loss(h, labels).item() == pytest.approx(sum(terms) / len(terms), rel=1e-12)
