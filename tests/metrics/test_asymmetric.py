"""Query-side rankings: asymmetric score, Hamming with asymmetric tie-break, new columns."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.codes import binarize
from mlrsir.methods.registry import get_method
from mlrsir.metrics.asymmetric import asymmetric_scores, num_distinct_rows, tiebreak_distances
from mlrsir.metrics.evaluate import evaluate_distances
from mlrsir.metrics.hamming import hamming_distance
from mlrsir.metrics.protocol import all_but_query_metrics, evaluate_method


def test_scores_tiebreak_keeps_hamming_order_and_orders_ties():
    h = np.array([[0.9, -0.1, 0.2]])
    db = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 1], [0, 1, 0]], dtype=np.uint8)
    s = asymmetric_scores(h, db)
    assert s[0, 0] == pytest.approx(-(0.9 + 0.1 + 0.2))  # the query's own code: the minimum
    assert s[0].argmin() == 0
    ham = hamming_distance(binarize(h), db)
    d = tiebreak_distances(ham, s, 3)
    assert (np.floor(d) == ham).all()  # Hamming order never changes
    # items 1 and 2 are both at Hamming 1: item 1 flips the small bit (-0.1), item 2 the big one (0.9)
    assert ham[0, 1] == ham[0, 2] == 1 and d[0, 1] < d[0, 2]
    with pytest.raises(ValueError):
        tiebreak_distances(ham, s * 10, 3)
    assert num_distinct_rows(np.array([[1, 0], [1, 0], [0, 1]])) == 2


def test_evaluate_method_columns_and_per_query_ap():
    rng = np.random.default_rng(0)
    method = get_method("dhn", 12)
    qo, do = np.tanh(rng.normal(size=(15, 12))), np.tanh(rng.normal(size=(40, 12)))
    ql, dl = rng.integers(0, 2, (15, 5)), rng.integers(0, 2, (40, 5))
    m = evaluate_method(method, qo, do, ql, dl)
    assert m["map"] == pytest.approx(np.mean(m["per_query_ap"])) and len(m["per_query_ap"]) == 15
    for key in ("map_tiebreak", "map_asym", "precision_at_10_tiebreak"):
        assert 0.0 <= m[key] <= 1.0
    assert np.mean(m["per_query_ap_asym"]) == pytest.approx(m["map_asym"])
    assert m["num_distinct_db_codes"] == len({tuple(r) for r in binarize(do)})
    # the tie-break and asymmetric rankings are exactly those of the explicit distances
    scores = asymmetric_scores(qo, binarize(do))
    assert m["map_asym"] == pytest.approx(evaluate_distances(scores, ql, dl)["map"])
    ref = evaluate_distances(tiebreak_distances(hamming_distance(binarize(qo), binarize(do)), scores, 12), ql, dl)
    assert m["map_tiebreak"] == pytest.approx(ref["map"])
    # all but the query: the query is removed from a pool of queries ∪ database
    out = np.concatenate([qo, do])
    labels = np.concatenate([ql, dl])
    abq = all_but_query_metrics(method, out, labels, np.arange(15), np.arange(15, 55))
    assert abq["all_but_query_num_database"] == 54 and "all_but_query_map_tiebreak" in abq


def test_quantizer_has_no_tiebreak_but_counts_assignments():
    rng = np.random.default_rng(1)
    method = get_method("dqn", 16)
    train = rng.normal(size=(200, method.out_dim)).astype(np.float32)
    method.refit(train, rng.integers(0, 2, (200, 4)))
    m = evaluate_method(method, train[:10], train[10:60], rng.integers(0, 2, (10, 4)), rng.integers(0, 2, (50, 4)))
    assert "map_tiebreak" not in m and 1 <= m["num_distinct_db_codes"] <= 50
