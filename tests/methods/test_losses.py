"""Each hashing loss against a plain Python loop over the pairs of the batch."""

from __future__ import annotations

import math

import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.methods.losses import PairwiseEuclideanLoss, PairwiseLikelihoodLoss, quantization_loss
from mlrsir.methods.mlrsir import HashingLoss


def _batch(kind: str, b: int = 7, k: int = 12, c: int = 5, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = torch.tanh(2 * torch.randn(b, k, generator=g, dtype=torch.float64))
    if kind == "mixed":
        labels = (torch.rand(b, c, generator=g) < 0.4).to(torch.float64)
        labels[0] = 0  # an image without labels: dissimilar to everything
    elif kind == "similar":
        labels = torch.zeros(b, c, dtype=torch.float64)
        labels[:, 2] = 1
        labels[::2, 4] = 1
    else:  # all dissimilar: each item has its own label
        labels = torch.eye(b, dtype=torch.float64)
    return h, labels


def _shares(a, b) -> bool:
    return any(x > 0 and y > 0 for x, y in zip(a, b))


def _pairs(h, labels):
    hl, ll = h.tolist(), labels.tolist()
    for i in range(len(hl)):
        for j in range(i + 1, len(hl)):
            yield hl[i], hl[j], 1.0 if _shares(ll[i], ll[j]) else 0.0


def _euclidean_loop(h, labels, margin, normalize, balance):
    k = h.shape[1]
    terms = []
    for a, b, s in _pairs(h, labels):
        d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
        term = s * d * d + (1 - s) * max(0.0, margin - d) ** 2
        terms.append((s, term / k if normalize else term))
    if not balance:
        return sum(t for _, t in terms) / len(terms)
    sim = [t for s, t in terms if s == 1]
    dis = [t for s, t in terms if s == 0]
    means = [sum(g) / len(g) for g in (sim, dis) if g]
    return sum(means) / len(means)


def _likelihood_loop(h, labels):
    terms = []
    for a, b, s in _pairs(h, labels):
        theta = 0.5 * sum(x * y for x, y in zip(a, b))
        terms.append(math.log(1 + math.exp(theta)) - s * theta)
    return sum(terms) / len(terms)


KINDS = ["mixed", "similar", "dissimilar"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("balance", [False, True])
def test_euclidean_matches_pair_loop(kind, normalize, balance):
    h, labels = _batch(kind)
    margin = 4.5  # some dissimilar pairs are inside the margin, some beyond it
    if kind != "similar":
        dist = [math.dist(a, b) for a, b, s in _pairs(h, labels) if s == 0]
        assert min(dist) < margin < max(dist)
    loss = PairwiseEuclideanLoss(margin=margin, normalize=normalize, balance=balance)(h, labels)
    assert loss.item() == pytest.approx(_euclidean_loop(h, labels, margin, normalize, balance), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_euclidean_default_margin_is_sqrt_2k(kind):
    h, labels = _batch(kind, k=16)
    expected = _euclidean_loop(h, labels, math.sqrt(32), True, False)
    assert PairwiseEuclideanLoss()(h, labels).item() == pytest.approx(expected, rel=1e-9)


def test_euclidean_balance_changes_mixed_batch():
    h, labels = _batch("mixed")
    plain = PairwiseEuclideanLoss(margin=3.0)(h, labels).item()
    balanced = PairwiseEuclideanLoss(margin=3.0, balance=True)(h, labels).item()
    assert plain != pytest.approx(balanced)


@pytest.mark.parametrize("kind", KINDS)
def test_likelihood_matches_pair_loop(kind):
    h, labels = _batch(kind)
    assert PairwiseLikelihoodLoss()(h, labels).item() == pytest.approx(_likelihood_loop(h, labels), rel=1e-9)


def test_likelihood_is_stable_for_large_inner_products():
    h = torch.full((2, 4000), 1.0, dtype=torch.float32)  # theta = 2000: exp overflows
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # dissimilar: loss = softplus(2000) = 2000
    loss = PairwiseLikelihoodLoss()(h, labels)
    assert torch.isfinite(loss) and loss.item() == pytest.approx(2000.0)


def test_quantization_matches_entry_loop_and_sign_form():
    h, _ = _batch("mixed")
    flat = h.flatten().tolist()
    expected = sum((abs(x) - 1) ** 2 for x in flat) / len(flat)
    assert quantization_loss(h).item() == pytest.approx(expected, rel=1e-12)
    # equals ||h - sign(h)||^2 / (B k) when no entry is 0
    assert quantization_loss(h).item() == pytest.approx(((h - torch.sign(h)) ** 2).mean().item(), rel=1e-12)
    assert quantization_loss(torch.tensor([[1.0, -1.0]])).item() == 0.0
    assert quantization_loss(torch.tensor([[0.0, 0.0]])).item() == 1.0


@pytest.mark.parametrize("pairwise", ["euclidean", "likelihood"])
def test_hashing_loss_is_pairwise_plus_weighted_quantization(pairwise):
    h, labels = _batch("mixed")
    total, parts = HashingLoss(pairwise=pairwise, quant_weight=0.25)(h, labels)
    pair = (
        _euclidean_loop(h, labels, math.sqrt(24), True, False)
        if pairwise == "euclidean"
        else _likelihood_loop(h, labels)
    )
    quant = quantization_loss(h).item()
    assert parts["pairwise"] == pytest.approx(pair, rel=1e-9)
    assert parts["quantization"] == pytest.approx(quant, rel=1e-12)
    assert total.item() == pytest.approx(pair + 0.25 * quant, rel=1e-9)
    assert parts["total"] == pytest.approx(total.item())
    assert all(isinstance(v, float) for v in parts.values())


def test_hashing_loss_rejects_bad_options():
    with pytest.raises(ConfigError, match="pairwise"):
        HashingLoss(pairwise="triplet")
    with pytest.raises(ConfigError, match="quant_weight"):
        HashingLoss(quant_weight=-1)
    with pytest.raises(ConfigError):
        HashingLoss(pairwise="likelihood", margin=2.0)


@pytest.mark.parametrize(
    "loss",
    [
        PairwiseEuclideanLoss(),
        PairwiseEuclideanLoss(balance=True),
        PairwiseLikelihoodLoss(),
        lambda h, y: quantization_loss(h),
        lambda h, y: HashingLoss("euclidean")(h, y)[0],
        lambda h, y: HashingLoss("likelihood")(h, y)[0],
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_reaches_every_code(loss, kind):
    h, labels = _batch(kind)
    h = h.float().requires_grad_(True)
    value = loss(h, labels.float())
    assert value.ndim == 0
    value.backward()
    assert torch.isfinite(h.grad).all()
    assert (h.grad.abs().sum(dim=1) > 0).all()


def test_identical_codes_give_finite_gradient():
    h = torch.ones(3, 8, requires_grad=True)
    labels = torch.eye(3)  # dissimilar pairs at distance 0: max(0, m - d)^2 is maximal
    loss = PairwiseEuclideanLoss()(h, labels)
    loss.backward()
    assert loss.item() == pytest.approx(16 / 8)  # (sqrt(16) - 0)^2 / k
    assert torch.isfinite(h.grad).all()


def test_single_item_batch_has_zero_loss_and_keeps_graph():
    h = torch.randn(1, 8, requires_grad=True)
    for loss in (PairwiseEuclideanLoss(), PairwiseLikelihoodLoss()):
        value = loss(h, torch.ones(1, 3))
        assert value.item() == 0.0 and value.requires_grad


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match="same B"):
        PairwiseEuclideanLoss()(torch.zeros(3, 8), torch.zeros(4, 2))
