"""The single relevance definition against a per-pair loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlrsir.metrics.relevance import relevance_matrix, shared_label_counts, similarity_matrix_torch


def test_relevance_and_shared_counts_match_loop():
    rng = np.random.default_rng(0)
    q = (rng.random((6, 5)) < 0.3).astype(np.uint8)
    d = (rng.random((9, 5)) < 0.3).astype(np.uint8)
    counts = shared_label_counts(q, d)
    rel = relevance_matrix(q, d)
    for i in range(6):
        for j in range(9):
            shared = sum(1 for c in range(5) if q[i, c] and d[j, c])
            assert counts[i, j] == shared
            assert rel[i, j] == (shared >= 1)
    assert rel.dtype == bool and counts.dtype == np.int32


def test_input_types_bool_float_and_torch_agree():
    q = np.array([[1, 0, 1], [0, 0, 0]])
    d = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]])
    expected = relevance_matrix(q, d)
    np.testing.assert_array_equal(relevance_matrix(q.astype(bool), d.astype(np.float32)), expected)
    sim = similarity_matrix_torch(torch.tensor(q), torch.tensor(d)).numpy()
    np.testing.assert_array_equal(sim, expected.astype(np.float32))
    assert not expected[1].any()  # an all-zero label row shares nothing


def test_width_mismatch_is_rejected():
    with pytest.raises(ValueError, match="label widths differ"):
        shared_label_counts(np.ones((1, 3)), np.ones((1, 4)))
