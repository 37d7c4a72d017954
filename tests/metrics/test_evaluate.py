"""evaluate_distances / evaluate_codes: keys, JSON, agreement with the ranking functions and loops."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.metrics.evaluate import evaluate_codes, evaluate_distances
from mlrsir.metrics.hamming import hamming_distance
from mlrsir.metrics.ranking import average_precision
from tests.metrics import oracles

REQUIRED = [
    "map",
    "map_stable",
    "map_at_100",
    "map_at_100_stable",
    "precision_at_10",
    "precision_at_100",
    "ndcg_at_100",
    "acg_at_100",
    "num_queries",
    "num_database",
    "num_queries_without_relevant",
    "bits",
]


def _data(seed=0, q=20, n=150, c=6, bits=8):
    rng = np.random.default_rng(seed)
    ql = (rng.random((q, c)) < 0.25).astype(np.uint8)
    dl = (rng.random((n, c)) < 0.25).astype(np.uint8)
    ql[0] = 0  # a query without labels -> no relevant item
    qc = rng.integers(0, 2, size=(q, bits), dtype=np.uint8)
    dc = rng.integers(0, 2, size=(n, bits), dtype=np.uint8)
    return qc, dc, ql, dl


def test_keys_types_and_json():
    qc, dc, ql, dl = _data()
    res = evaluate_codes(qc, dc, ql, dl, curves=True)
    for key in REQUIRED + ["pr_by_radius", "pr_by_rank", "precision_at_n", "precision_at_10_tie_aware"]:
        assert key in res, key
    json.dumps(res, allow_nan=False)
    assert res["bits"] == 8 and res["num_queries"] == 20 and res["num_database"] == 150
    assert res["num_queries_without_relevant"] >= 1
    assert all(isinstance(res[k], float) for k in REQUIRED[:8])


def test_map_equals_loop_over_labels():
    qc, dc, ql, dl = _data(1)
    res = evaluate_codes(qc, dc, ql, dl)
    dist = hamming_distance(qc, dc)
    stable = []
    for i in range(len(ql)):
        rel = [bool((ql[i] & dl[j]).any()) for j in range(len(dl))]
        order = oracles.stable_ranking(list(dist[i]))
        stable.append(oracles.ap_of_order([rel[j] for j in order]))
    assert res["map_stable"] == pytest.approx(np.mean(stable), abs=1e-12)
    rel = (ql @ dl.T) > 0
    assert res["map"] == pytest.approx(average_precision(dist, rel, tie_aware=True).mean(), abs=1e-12)
    assert res["map_at_100"] == pytest.approx(average_precision(dist, rel, 100, tie_aware=True).mean(), abs=1e-12)
    assert res["num_queries_without_relevant"] == int((~rel.any(axis=1)).sum())


def test_evaluate_codes_equals_evaluate_distances_and_chunking_is_invisible():
    qc, dc, ql, dl = _data(2)
    a = evaluate_codes(qc, dc, ql, dl, curves=True)
    b = evaluate_distances(hamming_distance(qc, dc), ql, dl, bits=8, curves=True, chunk_elements=150)
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], float):
            assert a[key] == pytest.approx(b[key], abs=1e-12), key
        else:
            assert a[key] == b[key] or json.dumps(a[key]) == json.dumps(b[key]), key


def test_float_distances_have_no_radius_curve_and_tie_aware_off():
    qc, dc, ql, dl = _data(3)
    dist = np.random.default_rng(0).random((20, 150))
    res = evaluate_distances(dist, ql, dl, curves=True, tie_aware=False)
    assert res["pr_by_radius"] is None
    assert res["map"] == res["map_stable"] and res["map_at_100"] == res["map_at_100_stable"]
    assert "precision_at_10_tie_aware" not in res and res["tie_aware"] is False


def test_exclude_self_equals_removing_the_query_by_hand():
    rng = np.random.default_rng(4)
    n = 40
    labels = (rng.random((n, 5)) < 0.3).astype(np.uint8)
    codes = rng.integers(0, 2, size=(n, 6), dtype=np.uint8)
    query_idx = np.array([3, 10, 17, 39])
    res = evaluate_codes(codes[query_idx], codes, labels[query_idx], labels, exclude_self=query_idx, ks=(5,))
    same = evaluate_codes(
        codes[query_idx],
        codes,
        labels[query_idx],
        labels,
        exclude_self=True,
        query_ids=query_idx,
        db_ids=np.arange(n),
        ks=(5,),
    )
    assert res == same
    assert res["num_database"] == n - 1
    per_query = []
    for i in query_idx:
        keep = np.arange(n) != i
        per_query.append(evaluate_codes(codes[[i]], codes[keep], labels[[i]], labels[keep], ks=(5,)))
    for key in ("map", "map_stable", "map_at_5", "map_at_5_stable", "precision_at_5", "ndcg_at_5", "acg_at_5"):
        assert res[key] == pytest.approx(np.mean([p[key] for p in per_query]), abs=1e-12), key


def test_exclude_self_needs_consistent_ids():
    qc, dc, ql, dl = _data(5, q=3, n=5)
    with pytest.raises(ValueError, match="same number"):
        evaluate_codes(qc, dc, ql, dl, exclude_self=np.array([0, 0, 7]), db_ids=np.array([0, 0, 1, 2, 3]))
    with pytest.raises(ValueError, match="needs query_ids"):
        evaluate_codes(qc, dc, ql, dl, exclude_self=True)


def test_shape_errors():
    qc, dc, ql, dl = _data(6)
    with pytest.raises(ValueError, match="labels do not match"):
        evaluate_codes(qc, dc, ql[:-1], dl)
    with pytest.raises(ValueError, match="code lengths differ"):
        evaluate_codes(qc, dc[:, :-1], ql, dl)
    with pytest.raises(ValueError, match="only 0 and 1"):
        evaluate_codes(qc * 2, dc, ql, dl)


def test_curves_equal_the_curve_functions():
    from mlrsir.metrics.curves import pr_by_radius, pr_by_rank, precision_at_n

    qc, dc, ql, dl = _data(7)
    res = evaluate_codes(qc, dc, ql, dl, curves=True, chunk_elements=300)
    dist = hamming_distance(qc, dc)
    rel = (ql.astype(int) @ dl.T.astype(int)) > 0
    for ours, ref in (
        (res["pr_by_radius"], pr_by_radius(dist, rel, 8)),
        (res["pr_by_rank"], pr_by_rank(dist, rel)),
        (res["precision_at_n"], precision_at_n(dist, rel)),
    ):
        assert ours.keys() == ref.keys()
        for key in ours:
            np.testing.assert_allclose(np.array(ours[key], dtype=float), np.array(ref[key], dtype=float), atol=1e-12)
