"""PR-by-radius, PR-by-rank and P@N curves against per-query loops."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.metrics.curves import (
    pr_by_radius,
    pr_by_rank,
    precision_at_n,
    precision_at_n_grid,
    radius_counts,
    rank_grid,
)
from tests.metrics import oracles


def test_radius_counts_match_loop():
    rng = np.random.default_rng(0)
    bits = 6
    dist = rng.integers(0, bits + 1, size=(5, 30))
    rel = rng.random((5, 30)) < 0.4
    retrieved, hits = radius_counts(dist, rel, bits)
    for q in range(5):
        for r in range(bits + 1):
            inside = dist[q] <= r
            assert retrieved[q, r] == inside.sum()
            assert hits[q, r] == (inside & rel[q]).sum()


def test_pr_by_radius_averaging_rules():
    # query 0 retrieves item 0 (relevant) at r=0; query 1 retrieves nothing before r=2;
    # query 2 has no relevant item at all (excluded from recall, included in precision)
    dist = np.array([[0, 1, 2], [2, 2, 2], [0, 2, 2]])
    rel = np.array([[True, False, True], [False, True, False], [False, False, False]])
    curve = pr_by_radius(dist, rel, bits=2)
    assert curve["radius"] == [0, 1, 2]
    assert curve["num_queries_nothing_retrieved"] == [1, 1, 0]
    # r=0: q0 precision 1, q2 precision 0 (q1 skipped) -> 0.5
    assert curve["precision"][0] == pytest.approx(0.5)
    # r=1: q0 1/2, q2 0 -> 0.25 ; r=2: q0 2/3, q1 1/3, q2 0 -> 1/3
    assert curve["precision"][1] == pytest.approx(0.25)
    assert curve["precision"][2] == pytest.approx(1 / 3)
    # recall over q0, q1 only: r=0 -> (1/2 + 0)/2, r=2 -> 1
    assert curve["recall"][0] == pytest.approx(0.25)
    assert curve["recall"][2] == pytest.approx(1.0)
    assert curve["mean_retrieved"][0] == pytest.approx(2 / 3)


def test_pr_by_radius_precision_is_none_when_nothing_is_retrieved():
    curve = pr_by_radius(np.array([[3, 3]]), np.array([[True, False]]), bits=3)
    assert curve["precision"][:3] == [None, None, None]
    assert curve["precision"][3] == pytest.approx(0.5)


def test_radius_counts_reject_bad_distances():
    with pytest.raises(ValueError, match="integer"):
        radius_counts(np.array([[0.5]]), np.array([[True]]), 2)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        radius_counts(np.array([[3]]), np.array([[True]]), 2)


def test_pr_by_rank_stable_and_tie_aware():
    rng = np.random.default_rng(4)
    dist = rng.integers(0, 3, size=(4, 6))
    rel = rng.random((4, 6)) < 0.5
    rel[0] = False
    ns = [1, 2, 4, 6]
    curve = pr_by_rank(dist, rel, ns)
    for j, n in enumerate(ns):
        stable_p, stable_r, tie_p, tie_r = [], [], [], []
        for q in range(4):
            order = oracles.stable_ranking(list(dist[q]))
            stable_p.append(rel[q][order[:n]].sum() / n)
            expected_hits = np.mean([rel[q][list(o[:n])].sum() for o in oracles.tie_orderings(list(dist[q]))])
            tie_p.append(expected_hits / n)
            if rel[q].any():
                stable_r.append(rel[q][order[:n]].sum() / rel[q].sum())
                tie_r.append(expected_hits / rel[q].sum())
        assert curve["precision"][j] == pytest.approx(np.mean(stable_p))
        assert curve["recall"][j] == pytest.approx(np.mean(stable_r))
        assert curve["precision_tie_aware"][j] == pytest.approx(np.mean(tie_p))
        assert curve["recall_tie_aware"][j] == pytest.approx(np.mean(tie_r))
    assert curve["recall"][-1] == pytest.approx(1.0)


def test_precision_at_n_last_point_is_base_rate():
    rng = np.random.default_rng(9)
    dist = rng.integers(0, 5, size=(7, 120))
    rel = rng.random((7, 120)) < 0.3
    curve = precision_at_n(dist, rel)
    assert curve["n"] == [1, 5, 10, 20, 50, 100, 120]
    assert curve["precision"][-1] == pytest.approx(rel.mean())
    assert curve["precision_tie_aware"][-1] == pytest.approx(rel.mean())


def test_grids():
    assert precision_at_n_grid(1470) == [1, 5, 10, 20, 50] + list(range(100, 1001, 100)) + [1470]
    assert precision_at_n_grid(100000)[-4:] == [10000, 20000, 50000, 100000]
    g = rank_grid(1470)
    assert g[0] == 1 and g[-1] == 1470 and g == sorted(set(g))
