"""Ranking metrics against hand-worked values, per-query loops and brute force over tie orders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mlrsir.metrics import ranking
from mlrsir.metrics.ranking import (
    acg_at_k,
    average_precision,
    expected_random_average_precision,
    mean_average_precision,
    ndcg_at_k,
    precision_at_k,
    stable_order,
)
from tests.metrics import oracles


def test_hand_worked_tie_case():
    # ranks: item0 (d=0, irrelevant), then {item1, item2} tied at d=1, item2 relevant
    dist = np.array([[0, 1, 1]])
    rel = np.array([[False, False, True]])
    # stable order puts item2 at rank 3 -> AP = 1/3
    assert average_precision(dist, rel)[0] == pytest.approx(1 / 3)
    # tie-aware: rank 2 or 3 with probability 1/2 each -> (1/2 + 1/3) / 2 = 5/12
    assert average_precision(dist, rel, tie_aware=True)[0] == pytest.approx(5 / 12)
    # moving the relevant item to the lower index changes the stable AP but not the tie-aware one
    rel2 = np.array([[False, True, False]])
    assert average_precision(dist, rel2)[0] == pytest.approx(1 / 2)
    assert average_precision(dist, rel2, tie_aware=True)[0] == pytest.approx(5 / 12)


def test_hand_worked_two_relevant_in_a_tie():
    # d = [1, 1, 1, 0]: item3 first (relevant), then a group of 3 with 1 relevant
    dist = np.array([[1, 1, 1, 0]])
    rel = np.array([[True, False, False, True]])
    # the relevant group item sits at rank 2, 3 or 4: AP = (1 + 2/i) / 2
    expected = np.mean([(1 + 2 / i) / 2 for i in (2, 3, 4)])
    assert average_precision(dist, rel, tie_aware=True)[0] == pytest.approx(expected)
    # stable: item0 at rank 2 -> (1 + 1) / 2
    assert average_precision(dist, rel)[0] == pytest.approx(1.0)
    # tie-aware P@2: rank 1 relevant for sure, rank 2 relevant with probability 1/3
    assert precision_at_k(dist, rel, 2, tie_aware=True)[0] == pytest.approx((1 + 1 / 3) / 2)
    # tie-aware AP@2 ("retrieved" denominator): with prob 1/3 both relevant (AP 1), else only rank 1 (AP 1)
    assert average_precision(dist, rel, 2, tie_aware=True)[0] == pytest.approx(1.0)
    # "min_rk" denominator min(R=2, K=2) = 2: E[1 + rel_2 * 2/2] / 2 = (1 + 1/3) / 2
    assert average_precision(dist, rel, 2, tie_aware=True, denominator="min_rk")[0] == pytest.approx((1 + 1 / 3) / 2)


def _metrics_per_order(rel_row, gain_row, k):
    """name -> (function of a ranked list of item indices)."""
    return {
        "ap_all": lambda order: oracles.ap_of_order([rel_row[j] for j in order]),
        "ap_k_retrieved": lambda order: oracles.ap_of_order([rel_row[j] for j in order], k, "retrieved"),
        "ap_k_min_rk": lambda order: oracles.ap_of_order([rel_row[j] for j in order], k, "min_rk"),
        "p_k": lambda order: oracles.precision_of_order([rel_row[j] for j in order], k),
        "ndcg_k": lambda order: oracles.ndcg_of_order([gain_row[j] for j in order], list(gain_row), k),
        "acg_k": lambda order: sum(gain_row[j] for j in order[:k]) / min(k, len(order)),
    }


def _ours(dist, rel, gain, k, tie_aware):
    return {
        "ap_all": average_precision(dist, rel, tie_aware=tie_aware),
        "ap_k_retrieved": average_precision(dist, rel, k, tie_aware=tie_aware),
        "ap_k_min_rk": average_precision(dist, rel, k, tie_aware=tie_aware, denominator="min_rk"),
        "p_k": precision_at_k(dist, rel, k, tie_aware=tie_aware),
        "ndcg_k": ndcg_at_k(dist, gain, k, tie_aware=tie_aware),
        "acg_k": acg_at_k(dist, gain, k, tie_aware=tie_aware),
    }


@pytest.mark.parametrize("case", range(40))
def test_tie_aware_equals_brute_force_over_tie_orders(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(2, 8))
    dist = rng.integers(0, 3, size=(1, n))
    if case % 2:
        dist = dist.astype(np.float64) * 0.5  # float distances, same tie structure
    gain = rng.integers(0, 3, size=(1, n))
    rel = gain > 0
    k = int(rng.integers(1, n + 2))  # sometimes K > N
    ours = _ours(dist, rel, gain, k, tie_aware=True)
    oracle_fns = _metrics_per_order(rel[0], gain[0], k)
    for name, fn in oracle_fns.items():
        expected = np.mean([fn(order) for order in oracles.tie_orderings(list(dist[0]))])
        assert ours[name][0] == pytest.approx(expected, abs=1e-12), name


def test_stable_equals_loop_oracle_on_larger_random_case():
    rng = np.random.default_rng(7)
    q, n, k = 12, 60, 17
    dist = rng.integers(0, 6, size=(q, n))  # heavy ties, K cuts tie groups
    gain = rng.integers(0, 3, size=(q, n))
    gain[0] = 0  # a query without any relevant item
    rel = gain > 0
    ours = _ours(dist, rel, gain, k, tie_aware=False)
    for row in range(q):
        order = oracles.stable_ranking(list(dist[row]))
        for name, fn in _metrics_per_order(rel[row], gain[row], k).items():
            assert ours[name][row] == pytest.approx(fn(order), abs=1e-12), (name, row)
    assert ours["ap_all"][0] == 0.0


def test_tie_aware_is_invariant_to_database_order_and_stable_is_not():
    rng = np.random.default_rng(3)
    dist = rng.integers(0, 4, size=(5, 40))
    rel = rng.random((5, 40)) < 0.3
    perm = rng.permutation(40)
    for k in (None, 7):
        a = average_precision(dist, rel, k, tie_aware=True)
        b = average_precision(dist[:, perm], rel[:, perm], k, tie_aware=True)
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert not np.allclose(average_precision(dist, rel), average_precision(dist[:, perm], rel[:, perm]))


def test_without_ties_tie_aware_equals_stable():
    rng = np.random.default_rng(1)
    dist = rng.random((8, 50))
    gain = rng.integers(0, 4, size=(8, 50))
    rel = gain > 0
    for k in (1, 10, 50):
        stable, tie = _ours(dist, rel, gain, k, False), _ours(dist, rel, gain, k, True)
        for name in stable:
            np.testing.assert_allclose(stable[name], tie[name], atol=1e-12, err_msg=name)


def test_ap_matches_sklearn_on_tie_free_distances():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(5)
    dist = rng.random((10, 80))
    rel = rng.random((10, 80)) < 0.25
    for tie_aware in (False, True):
        ours = average_precision(dist, rel, tie_aware=tie_aware)
        for row in range(10):
            assert ours[row] == pytest.approx(average_precision_score(rel[row], -dist[row]), abs=1e-12)


def test_all_distances_equal_gives_expected_random_ap():
    rng = np.random.default_rng(2)
    n = 30
    rel = rng.random((6, n)) < np.linspace(0.05, 0.9, 6)[:, None]
    rel[0] = False
    rel[1] = False
    rel[1, 4] = True  # R = 1: E[AP] = H_N / N
    dist = np.zeros((6, n), dtype=np.int32)
    ours = average_precision(dist, rel, tie_aware=True)
    closed = expected_random_average_precision(rel.sum(axis=1), n)
    np.testing.assert_allclose(ours, closed, atol=1e-12)
    assert ours[0] == 0.0
    assert ours[1] == pytest.approx(sum(1 / i for i in range(1, n + 1)) / n)


@pytest.mark.parametrize("n, r", [(1, 1), (2, 1), (5, 2), (6, 3), (6, 6)])
def test_expected_random_ap_closed_form_vs_all_permutations(n, r):
    rel = [True] * r + [False] * (n - r)
    values = [oracles.ap_of_order([rel[j] for j in p]) for p in itertools.permutations(range(n))]
    assert float(expected_random_average_precision(r, n)) == pytest.approx(np.mean(values), abs=1e-12)


def test_mean_average_precision_counts_queries_without_relevant_as_zero():
    dist = np.array([[0, 1], [0, 1]])
    rel = np.array([[True, False], [False, False]])
    assert mean_average_precision(dist, rel) == pytest.approx(0.5)
    assert mean_average_precision(dist, rel, tie_aware=True) == pytest.approx(0.5)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(11)
    dist = rng.integers(0, 5, size=(23, 31))
    gain = rng.integers(0, 3, size=(23, 31))
    for fn, arg in ((average_precision, gain > 0), (ndcg_at_k, gain)):
        kw = {"tie_aware": True}
        k = 9
        big = fn(dist, arg, k, **kw)
        small = fn(dist, arg, k, chunk_elements=40, **kw)  # one query per chunk
        np.testing.assert_allclose(big, small, atol=0)


def test_k_larger_than_database_is_clipped():
    dist = np.array([[0, 1, 2]])
    rel = np.array([[False, True, True]])
    assert precision_at_k(dist, rel, 10)[0] == pytest.approx(2 / 3)
    assert average_precision(dist, rel, 10)[0] == pytest.approx(average_precision(dist, rel)[0])


def test_stable_order_fast_paths_match_generic_stable_sort():
    rng = np.random.default_rng(0)
    for low, high in ((0, 40), (0, 3000), (-5, 5), (0, 10**6), (-(2**40), 2**40)):
        d = rng.integers(low, high, size=(4, 500))
        np.testing.assert_array_equal(stable_order(d), np.argsort(d.astype(np.int64), axis=1, kind="stable"))
    f = rng.choice(np.array([-np.inf, -2.5, -1e-30, -0.0, 0.0, 1e-30, 0.5, 3.0, np.inf]), size=(4, 300))
    for dtype in (np.float32, np.float64):
        d = f.astype(dtype)
        expected = np.array([sorted(range(300), key=lambda j: (float(row[j]), j)) for row in d])
        np.testing.assert_array_equal(stable_order(d), expected)  # -0.0 and 0.0 tie, ordered by index


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="NaN"):
        average_precision(np.array([[0.0, np.nan]]), np.array([[True, False]]))
    with pytest.raises(ValueError, match="shape"):
        average_precision(np.zeros((2, 3)), np.zeros((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="denominator"):
        average_precision(np.zeros((1, 3)), np.ones((1, 3), dtype=bool), 2, denominator="R")
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(np.zeros((1, 3)), np.ones((1, 3), dtype=bool), 0)


def test_hypergeometric_pmf_sums_to_one_and_matches_scipy():
    from scipy.stats import hypergeom

    x = np.arange(0, 8)
    for total, succ, draws in ((7, 3, 4), (10, 0, 5), (5, 5, 2), (9, 4, 9)):
        ours = ranking._hypergeom_pmf(x, np.float64(total), np.float64(succ), np.float64(draws))
        np.testing.assert_allclose(ours, hypergeom.pmf(x, total, succ, draws), atol=1e-12)
        assert ours.sum() == pytest.approx(1.0)


def test_ideal_gains_counting_path_equals_sorting():
    rng = np.random.default_rng(12)
    gain = rng.integers(0, 5, size=(6, 40))
    rl = ranking.RankedLists(rng.integers(0, 3, size=(6, 40)), gain > 0, gain)
    for k in (1, 7, 40):
        np.testing.assert_array_equal(rl.ideal_gains(k), -np.sort(-gain, axis=1)[:, :k])
    fractional = ranking.RankedLists(np.zeros((2, 5)), np.ones((2, 5), bool), gain[:2, :5] + 0.5)
    np.testing.assert_array_equal(fractional.ideal_gains(3), -np.sort(-(gain[:2, :5] + 0.5), axis=1)[:, :3])


@pytest.mark.parametrize("force_weighted", [False, True])
def test_table_building_paths_agree(monkeypatch, force_weighted):
    """Integer distances (value = group), float distances (rank of distinct value), and the
    weighted-bincount fallback must give identical metrics."""
    if force_weighted:
        monkeypatch.setattr(ranking.RankedLists, "_MAX_COUNTED_GAIN", -1)
    rng = np.random.default_rng(21)
    dist = rng.integers(0, 9, size=(7, 50))
    gain = rng.integers(0, 4, size=(7, 50))
    rel = gain > 0
    spread = dist * 1000  # integers, but too wide for the value-as-group path
    for d in (dist, dist.astype(np.float32) / 3, spread):
        for k in (5, 23):
            ours = _ours(d, rel, gain, k, tie_aware=True)
            ref = _ours(dist, rel, gain, k, tie_aware=True)
            for name in ours:
                np.testing.assert_allclose(ours[name], ref[name], atol=1e-12, err_msg=name)
