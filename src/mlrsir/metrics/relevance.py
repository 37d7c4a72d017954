"""The one definition of relevance used everywhere in mlrsir.

A database item is *relevant* to a query when the two share at least one label
(multi-label retrieval protocol of the paper, Sec. 4, and of DLRSD benchmarks):
``rel(q, i) = 1  iff  <y_q, y_i> > 0`` for multi-hot label vectors ``y``.
The graded relevance used by NDCG/ACG is the number of shared labels ``<y_q, y_i>``.
"""

from __future__ import annotations

import numpy as np


def _as_label_matrix(labels, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected (N, C) multi-hot labels, got shape {arr.shape}")
    return (arr > 0).astype(np.int32)


def shared_label_counts(query_labels, db_labels) -> np.ndarray:
    """Number of labels each query shares with each database item.

    Args:
        query_labels: ``(Q, C)`` multi-hot (bool, 0/1 int or float).
        db_labels: ``(N, C)`` multi-hot, same ``C``.

    Returns:
        ``(Q, N)`` int32 array, values in ``[0, C]``.

    >>> shared_label_counts([[1, 1, 0]], [[1, 0, 0], [0, 0, 1], [1, 1, 1]])
    array([[1, 0, 2]], dtype=int32)
    """
    q = _as_label_matrix(query_labels, "query_labels")
    d = _as_label_matrix(db_labels, "db_labels")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"label widths differ: queries have {q.shape[1]} classes, database {d.shape[1]}")
    return (q @ d.T).astype(np.int32)


def relevance_matrix(query_labels, db_labels) -> np.ndarray:
    """Binary relevance: ``(Q, N)`` bool, True where query and item share >= 1 label.

    >>> relevance_matrix([[1, 0]], [[1, 1], [0, 1]])
    array([[ True, False]])
    """
    return shared_label_counts(query_labels, db_labels) > 0


def similarity_matrix_torch(labels_a, labels_b):
    """Torch version for losses: ``s_ij = 1`` if the two share a label else 0.

    Args:
        labels_a: ``(B, C)`` tensor, labels_b: ``(M, C)`` tensor (multi-hot).

    Returns:
        ``(B, M)`` float tensor in {0, 1}.
    """
    a = (labels_a > 0).float()
    b = (labels_b > 0).float()
    return (a @ b.t() > 0).float()
