"""Retrieval curves: precision-recall by Hamming radius, by rank, and precision at N retrieved.

Per-query pieces are computed chunk by chunk (counts / expected hit counts) and then
summarised into JSON-serialisable dicts of python floats and lists. Definitions:

* **PR by Hamming radius** ``r = 0..k`` (integer distances only): retrieve every item with
  ``d <= r`` (a whole set, so ties do not matter). ``precision(r)`` = relevant retrieved /
  retrieved, averaged over the queries that retrieve at least one item at radius ``r``
  (queries retrieving nothing are *skipped* for precision and counted in
  ``num_queries_nothing_retrieved``; the value is None when every query is skipped).
  ``recall(r)`` = relevant retrieved / R, averaged over queries with ``R > 0``.
* **PR by rank** ``n`` (a grid of cut-offs): ``precision(n)`` = relevant in top n / n,
  averaged over all queries; ``recall(n)`` = relevant in top n / R over queries with
  ``R > 0``. Given for the stable ranking and tie-aware (expected counts).
* **precision at N** (P@N curve): the same precision on the usual grid
  1, 5, 10, 20, 50, 100, 200, ..., 1000 (then 2000, 5000, 10000, ...), capped at the
  database size, whose last point ``N`` is the base rate.
"""

from __future__ import annotations

import numpy as np

from mlrsir.metrics.ranking import RankedLists, _safe_divide


def precision_at_n_grid(num_database: int) -> list[int]:
    """Cut-offs of the P@N curve: 1, 5, 10, 20, 50, 100..1000 step 100, 2000, 5000, ... and N.

    >>> precision_at_n_grid(250)
    [1, 5, 10, 20, 50, 100, 200, 250]
    """
    grid = [1, 5, 10, 20, 50] + list(range(100, 1001, 100))
    decade = 1000
    while decade < num_database:
        grid += [2 * decade, 5 * decade, 10 * decade]
        decade *= 10
    return sorted({g for g in grid if g < num_database} | {int(num_database)})


def rank_grid(num_database: int, points: int = 25) -> list[int]:
    """Cut-offs of the PR-by-rank curve: ``points`` log-spaced plus ``points`` evenly spaced
    ranks in ``[1, N]`` (so that both the start and the high-recall end are sampled).

    >>> rank_grid(10, points=3)
    [1, 3, 7, 10]
    """
    n = int(num_database)
    log_part = np.geomspace(1, n, points)
    lin_part = np.linspace(n / points, n, points)
    values = np.unique(np.clip(np.rint(np.concatenate([log_part, lin_part])), 1, n).astype(int))
    return [int(v) for v in values]


def relevant_in_top(rl: RankedLists, ns, *, tie_aware: bool = False) -> np.ndarray:
    """``(q, len(ns))`` float64: (expected, if tie-aware) relevant items in the top n.

    Cut-offs larger than N are clipped to N. Tie-aware: ``R_before + m r / n_group``
    for the tie group cut by rank n (``m`` members of it inside the top n).
    """
    ns = np.minimum(np.asarray(ns, dtype=np.int64), rl.num_database)
    cut = np.broadcast_to(ns, (rl.num_queries, ns.size))
    if not tie_aware:
        return np.take_along_axis(rl.cum_relevant, cut - 1, axis=1).astype(np.float64)
    return rl.expected_relevant_in_top(cut)


def radius_counts(dist, rel, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query and radius ``r = 0..bits``: items retrieved and relevant items retrieved.

    Args:
        dist: ``(q, N)`` integer Hamming distances in ``[0, bits]``.
        rel: ``(q, N)`` bool relevance.

    Returns:
        ``(retrieved, hits)``, both ``(q, bits + 1)`` int64, counts of ``d <= r``.

    >>> radius_counts(np.array([[0, 2, 1, 2]]), np.array([[0, 1, 1, 0]]), 2)
    (array([[1, 2, 4]]), array([[0, 1, 2]]))
    """
    d = np.asarray(dist)
    if not np.issubdtype(d.dtype, np.integer):
        raise ValueError(f"PR by radius needs integer (Hamming) distances, got dtype {d.dtype}")
    if d.size and (d.min() < 0 or d.max() > bits):
        raise ValueError(f"Hamming distances must lie in [0, {bits}], found [{d.min()}, {d.max()}]")
    q = d.shape[0]
    width = bits + 1
    flat = (np.arange(q, dtype=np.int64)[:, None] * width + d).ravel()
    retrieved = np.bincount(flat, minlength=q * width).reshape(q, width)
    hits = np.bincount(flat, weights=np.asarray(rel, dtype=np.float64).ravel(), minlength=q * width)
    hits = np.rint(hits).astype(np.int64).reshape(q, width)
    return np.cumsum(retrieved, axis=1), np.cumsum(hits, axis=1)


def _mean_or_none(values: np.ndarray, mask: np.ndarray) -> list:
    """Column means of ``values`` over rows where ``mask`` holds; None for empty columns."""
    count = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    return [float(t / c) if c > 0 else None for t, c in zip(total, count)]


def summarise_radius(retrieved: np.ndarray, hits: np.ndarray, num_relevant: np.ndarray) -> dict:
    """PR-by-radius dict from :func:`radius_counts` of all queries (see module docstring)."""
    retrieved = np.asarray(retrieved, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    has_rel = np.broadcast_to((np.asarray(num_relevant) > 0)[:, None], hits.shape)
    precision = _safe_divide(hits, retrieved)
    recall = _safe_divide(hits, np.asarray(num_relevant, dtype=np.float64)[:, None])
    return {
        "radius": list(range(retrieved.shape[1])),
        "precision": _mean_or_none(precision, retrieved > 0),
        "recall": _mean_or_none(recall, has_rel),
        "num_queries_nothing_retrieved": [int(v) for v in (retrieved == 0).sum(axis=0)],
        "mean_retrieved": [float(v) for v in retrieved.mean(axis=0)],
    }


def summarise_rank(
    ns, hits_stable: np.ndarray, hits_tie_aware: np.ndarray | None, num_relevant, num_database: int
) -> dict:
    """PR-by-rank dict from per-query hit counts ``(Q, len(ns))`` (see module docstring)."""
    ns_clipped = np.minimum(np.asarray(ns, dtype=np.float64), num_database)
    num_relevant = np.asarray(num_relevant, dtype=np.float64)
    has_rel = np.broadcast_to((num_relevant > 0)[:, None], np.shape(hits_stable))
    out: dict[str, list] = {"n": [int(n) for n in ns]}
    variants = [("", hits_stable)] + ([("_tie_aware", hits_tie_aware)] if hits_tie_aware is not None else [])
    for suffix, hits in variants:
        out["precision" + suffix] = [float(v) for v in (hits / ns_clipped).mean(axis=0)]
        out["recall" + suffix] = _mean_or_none(_safe_divide(hits, num_relevant[:, None]), has_rel)
    return out


def _ranked(dist, rel) -> RankedLists:
    return RankedLists(dist, rel)


def pr_by_radius(dist, rel, bits: int) -> dict:
    """PR curve by Hamming radius for a whole ``(Q, N)`` integer distance matrix.

    >>> pr_by_radius(np.array([[0, 2], [2, 2]]), np.array([[1, 0], [0, 1]]), 2)["precision"]
    [1.0, 1.0, 0.5]
    """
    retrieved, hits = radius_counts(dist, rel, bits)
    return summarise_radius(retrieved, hits, np.asarray(rel).sum(axis=1))


def pr_by_rank(dist, rel, ns=None) -> dict:
    """PR curve by rank cut-off (stable and tie-aware) for a whole ``(Q, N)`` matrix."""
    rl = _ranked(dist, rel)
    ns = rank_grid(rl.num_database) if ns is None else list(ns)
    return summarise_rank(
        ns, relevant_in_top(rl, ns), relevant_in_top(rl, ns, tie_aware=True), rl.num_relevant, rl.num_database
    )


def precision_at_n(dist, rel, ns=None) -> dict:
    """P@N curve (stable and tie-aware) for a whole ``(Q, N)`` matrix.

    >>> precision_at_n(np.array([[0, 1, 1]]), np.array([[1, 0, 1]]), ns=[1, 2])["precision_tie_aware"]
    [1.0, 0.75]
    """
    rl = _ranked(dist, rel)
    ns = precision_at_n_grid(rl.num_database) if ns is None else list(ns)
    curve = summarise_rank(
        ns, relevant_in_top(rl, ns), relevant_in_top(rl, ns, tie_aware=True), rl.num_relevant, rl.num_database
    )
    return {key: curve[key] for key in ("n", "precision", "precision_tie_aware")}
