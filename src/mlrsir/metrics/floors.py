"""Chance floors: what a method that learned nothing scores on the same queries/database.

* :func:`random_codes_floor`: every image gets a uniformly random ``{0,1}`` code of
  ``bits`` bits; Hamming ranking; evaluated like a trained model (tie-aware and stable
  mAP, P@K, ...). Short codes give many ties, so the two mAPs can differ.
* :func:`random_ranking_floor`: each query ranks the database in a uniformly random order
  (no ties). Its mAP is a Monte-Carlo sample of the expected random AP, which is also
  returned in closed form as ``expected_map``
  (:func:`mlrsir.metrics.ranking.expected_random_average_precision`, averaged over queries).

A trained model is only interesting by how far it lies above these floors.
"""

from __future__ import annotations

import numpy as np

from mlrsir.codes import check_code_length
from mlrsir.metrics.evaluate import evaluate_codes, evaluate_distances
from mlrsir.metrics.ranking import expected_random_average_precision
from mlrsir.metrics.relevance import relevance_matrix


def random_codes_floor(query_labels, db_labels, bits: int, seed: int = 0, **evaluate_kwargs) -> dict:
    """Metrics of uniformly random codes (``numpy.random.default_rng(seed)``).

    Args:
        query_labels: ``(Q, C)`` multi-hot; db_labels: ``(N, C)`` multi-hot.
        bits: code length k >= 1.
        seed: seed of the code generator (queries drawn first, then the database).
        **evaluate_kwargs: passed to :func:`mlrsir.metrics.evaluate.evaluate_codes`.

    Returns:
        The :func:`evaluate_codes` dict plus ``floor = "random_codes"`` and ``seed``.
    """
    bits = check_code_length(int(bits))
    ql, dl = np.asarray(query_labels), np.asarray(db_labels)
    rng = np.random.default_rng(seed)
    query_codes = rng.integers(0, 2, size=(ql.shape[0], bits), dtype=np.uint8)
    db_codes = rng.integers(0, 2, size=(dl.shape[0], bits), dtype=np.uint8)
    result = evaluate_codes(query_codes, db_codes, ql, dl, **evaluate_kwargs)
    result.update(floor="random_codes", seed=int(seed))
    return result


def random_ranking_floor(query_labels, db_labels, seed: int = 0, **evaluate_kwargs) -> dict:
    """Metrics of a uniformly random ranking per query (``numpy.random.default_rng(seed)``).

    Returns:
        The :func:`evaluate_distances` dict (distances = a random permutation of
        ``0..N-1`` per query, so there are no ties) plus ``floor = "random_ranking"``,
        ``seed`` and ``expected_map``: the exact expected mAP@all of a random ranking,
        ``mean_q E[AP_q]`` with ``E[AP_q]`` from the closed form (0 for R = 0).
    """
    ql, dl = np.asarray(query_labels), np.asarray(db_labels)
    num_queries, num_database = ql.shape[0], dl.shape[0]
    rng = np.random.default_rng(seed)
    ranks = np.broadcast_to(np.arange(num_database, dtype=np.int32), (num_queries, num_database))
    dist = rng.permuted(ranks, axis=1)
    result = evaluate_distances(dist, ql, dl, **evaluate_kwargs)
    num_relevant = relevance_matrix(ql, dl).sum(axis=1)
    result.update(
        floor="random_ranking",
        seed=int(seed),
        expected_map=float(np.mean(expected_random_average_precision(num_relevant, num_database))),
    )
    return result
