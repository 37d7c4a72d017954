"""Recall@k of an approximate search against exact search, counting ties as correct."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def recall_at_k_with_ties(approx_dist: Iterable, exact_dist: Iterable, k: int) -> float:
    """Recall@k against exact search **with ties**, averaged over queries, in [0, 1].

    Per query, let ``E`` be the multiset of the exact top-``k`` distances (the ``k``
    smallest distances to the database, ``min(k, n)`` of them) and ``A`` the multiset of the
    first ``k`` distances the approximate search returned (sorted; empty slots, ``< 0``,
    dropped). The query's recall is ``|A ∩ E| / |E|`` with multiset intersection (each
    distance counted ``min(count in A, count in E)`` times). So a returned item is right when
    its distance fills a slot of the exact top-``k``, whichever member of a tied group it is;
    the result is correct (recall 1) exactly when its distances equal the exact ones. A
    query with no exact neighbour counts 1; no query at all gives 1.

    Example (k = 4): exact distances ``[0, 1, 1, 2]``, returned ``[0, 1, 2, 2]``: the
    intersection is ``{0, 1, 2}``, recall 3/4.

    Args:
        approx_dist: per query, the returned integer distances (array or list; ``-1`` = empty slot).
        exact_dist: per query, the exact integer distances (at least ``min(k, n)`` of them).
        k: the k of recall@k.
    """
    scores = []
    for got, ref in zip(approx_dist, exact_dist):
        ref = np.sort(np.asarray(ref, dtype=np.int64))[:k]
        ref = ref[ref >= 0]
        if ref.size == 0:
            scores.append(1.0)
            continue
        got = np.asarray(got, dtype=np.int64)
        got = np.sort(got[got >= 0])[:k]
        top = int(max(ref.max(), got.max() if got.size else 0)) + 1
        match = np.minimum(np.bincount(got, minlength=top), np.bincount(ref, minlength=top)).sum()
        scores.append(match / ref.size)
    return float(np.mean(scores)) if scores else 1.0


def recall_at_k_of_results(approx: Iterable, exact: Iterable, k: int) -> float:
    """:func:`recall_at_k_with_ties` of per-query search results ``[(id, distance)]`` (only the
    distances are compared, so any member of a tied group is right)."""
    return recall_at_k_with_ties([[d for _, d in row] for row in approx], [[d for _, d in row] for row in exact], k)
