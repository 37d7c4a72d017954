"""The one recall@k with ties (issue 23: bench/search.py had its own entry point)."""

from __future__ import annotations

import pytest

from mlrsir.metrics.recall import recall_at_k_of_results, recall_at_k_with_ties


def test_results_and_distances_give_the_same_recall_on_ties():
    # k = 4; exact distances 0, 1, 1, 2; returned 0, 1, 2, 2: slots {0, 1, 2} filled -> 3/4;
    # second query: 1, 1 returned by other members of the tied group of 1 -> 2/2 = 1
    exact = [[(1, 0), (2, 1), (3, 1), (4, 2)], [(5, 1), (6, 1)]]
    approx = [[(1, 0), (3, 1), (7, 2), (8, 2)], [(9, 1), (10, 1)]]
    by_results = recall_at_k_of_results(approx, exact, 4)
    by_distances = recall_at_k_with_ties([[0, 1, 2, 2], [1, 1]], [[0, 1, 1, 2], [1, 1]], 4)
    assert by_results == by_distances == pytest.approx((3 / 4 + 1) / 2)
