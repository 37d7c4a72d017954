"""Find all like these: the logistic fit, the ranking, tie-aware precision (hand-checked and brute force)."""

import itertools

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.inference import like_these as lt


def _loss(w, b, pos, neg, l2):
    """The module's objective, written per item (reference loop)."""
    total = 0.0
    for group, y in ((pos, 1.0), (neg, -1.0)):
        for c in group:
            x = 2.0 * np.asarray(c, float) - 1.0
            total += (1.0 / len(group)) * np.log1p(np.exp(-y * (x @ w + b)))
    return total + 0.5 * l2 * float(w @ w)


def test_fit_is_the_minimum_of_the_per_item_objective():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 2, (4, 8))
    neg = rng.integers(0, 2, (9, 8))
    w, b = lt.fit_linear(pos, neg, l2=0.5)
    best = _loss(w, b, pos, neg, 0.5)
    for _ in range(50):  # every small move raises the loss: a minimum
        dw, db = rng.normal(0, 1e-3, 8), rng.normal(0, 1e-3)
        assert _loss(w + dw, b + db, pos, neg, 0.5) > best - 1e-12
    # gradient is zero (central differences)
    eps = 1e-6
    for j in range(8):
        e = np.zeros(8)
        e[j] = eps
        g = (_loss(w + e, b, pos, neg, 0.5) - _loss(w - e, b, pos, neg, 0.5)) / (2 * eps)
        assert abs(g) < 1e-6


def test_one_positive_one_negative_hand_computed_direction():
    # positive 1100, negative 0011: by symmetry w = (t, t, -t, -t), b = 0
    w, b = lt.fit_linear(np.array([[1, 1, 0, 0]]), np.array([[0, 0, 1, 1]]), l2=1.0)
    assert abs(b) < 1e-9
    assert np.allclose(w, [w[0], w[0], -w[0], -w[0]]) and w[0] > 0
    # L(t) = 2 log(1 + exp(-4t)) + 2 t^2 (both margins are 4t, weights 1, |w|^2 = 4t^2);
    # L'(t) = -8 / (1 + exp(4t)) + 4t = 0  <=>  t = 2 / (1 + exp(4t))   (t = 0.37039, solved by hand-checked bisection)
    t = w[0]
    assert t == pytest.approx(2 / (1 + np.exp(4 * t)), abs=1e-9)
    assert t == pytest.approx(0.370387, abs=1e-5)


def test_separable_clusters_rank_all_positives_first():
    rng = np.random.default_rng(1)
    centre_a, centre_b = np.zeros(32, int), np.ones(32, int)
    flip = lambda c, n: np.abs(c - (rng.random((n, 32)) < 0.1))  # noqa: E731
    codes = np.vstack([flip(centre_a, 50), flip(centre_b, 150)]).astype(np.uint8)
    scores = lt.classifier_scores(codes, positives=[0, 1, 2], negatives=[60, 61, 62])
    top = lt.rank(scores, exclude=[0, 1, 2, 60, 61, 62], k=47)
    assert set(top.tolist()) == set(range(3, 50))


def test_no_negatives_uses_a_seeded_background_and_refuses_no_positive():
    codes = np.random.default_rng(2).integers(0, 2, (40, 16)).astype(np.uint8)
    a = lt.classifier_scores(codes, positives=[0, 1])
    b = lt.classifier_scores(codes, positives=[0, 1])
    assert np.array_equal(a, b)
    with pytest.raises(ConfigError, match="at least one positive"):
        lt.classifier_scores(codes, positives=[])
    with pytest.raises(ConfigError, match="both"):
        lt.classifier_scores(codes, positives=[3], negatives=[3])


def test_rocchio_scores_follow_hamming_distance_to_the_moved_query():
    codes = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
    scores = lt.rocchio_scores(codes, positives=[0])
    # query = item 0 itself: distances 0, 1, 4, 2
    assert list(lt.rank(scores)) == [0, 1, 3, 2]


def _brute_force_precision(scores, relevant, k):
    """Mean precision@k over every order of the tied items (all permutations)."""
    n = len(scores)
    values = []
    for perm in itertools.permutations(range(n)):
        order = sorted(range(n), key=lambda i: (-scores[i], perm.index(i)))
        values.append(np.mean([relevant[i] for i in order[:k]]))
    return float(np.mean(values))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_tie_aware_precision_equals_the_mean_over_tie_orders(k):
    scores = np.array([3.0, 2.0, 2.0, 2.0, 1.0, 1.0])
    relevant = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    assert lt.tie_aware_precision(scores, relevant, k) == pytest.approx(_brute_force_precision(scores, relevant, k))


def test_tie_aware_precision_hand_value_and_exclusion():
    scores = np.array([3.0, 2.0, 2.0, 2.0])
    relevant = np.array([1, 0, 1, 1], dtype=bool)
    # k=2: item 0 (hit) + one of three tied items (2/3 hits) -> (1 + 2/3) / 2
    assert lt.tie_aware_precision(scores, relevant, 2) == pytest.approx((1 + 2 / 3) / 2)
    # excluding item 0: k=1 -> 2/3
    assert lt.tie_aware_precision(scores, relevant, 1, exclude=[0]) == pytest.approx(2 / 3)
