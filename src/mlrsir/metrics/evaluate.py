"""One entry point for every retrieval evaluation: :func:`evaluate_distances`.

Hamming methods go through :func:`evaluate_codes` (Hamming distance + the same code),
quantization (AQD) methods pass their float distance matrix to
:func:`evaluate_distances` directly. Relevance is the single definition of
:mod:`mlrsir.metrics.relevance` (share >= 1 label; graded gain = shared label count).

Keys of the returned dict (all python floats/ints/lists, JSON-serialisable), for every
cut-off K in ``ks``:

* ``map``: tie-aware mAP@all (headline; He et al. CVPR 2018, expectation over random
  orders inside tie groups). ``map_stable``: mAP@all of the stable ranking
  (distance, database index).
* ``map_at_K``: tie-aware mAP@K with denominator = relevant items in the top K (the
  DPSH/DCH evaluation-code convention; 0 when the top K holds none);
  ``map_at_K_stable``: the same, stable ranking; ``map_at_K_min_rk``: tie-aware
  ``E[sum_{i<=K} rel_i P@i] / min(R, K)`` (the other common definition).
* ``precision_at_K``, ``ndcg_at_K``, ``acg_at_K``: stable ranking;
  ``precision_at_K_tie_aware``, ``ndcg_at_K_tie_aware``, ``acg_at_K_tie_aware``:
  expectations over random tie orders. NDCG/ACG gain = number of shared labels.
* ``num_queries`` (Q; every mean is over all Q queries), ``num_database`` (N, minus the
  excluded self match with ``exclude_self``), ``num_queries_without_relevant`` (queries
  with R = 0; they count as 0 in mAP and NDCG), ``bits`` (code length or None),
  ``tie_aware`` (whether tie-aware values were computed). With ``per_query=True`` also
  ``per_query_ap`` (list of Q floats: the AP behind ``map``).

Relevance: share >= 1 label (``shared_label_counts > 0``, the definition of
``relevance_matrix``). With ``tie_aware=False`` the tie-aware keys (``*_tie_aware``,
``map_at_K_min_rk``) are absent and ``map``, ``map_at_K`` hold the stable values. With
``curves=True``: ``pr_by_radius`` (None unless the distances are integers and ``bits`` is
known), ``pr_by_rank``, ``precision_at_n`` (see :mod:`mlrsir.metrics.curves`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrsir.codes import check_bits, pack_codes
from mlrsir.metrics import curves as curves_mod
from mlrsir.metrics.hamming import hamming_distance_packed
from mlrsir.metrics.ranking import (
    DEFAULT_CHUNK_ELEMENTS,
    RankedLists,
    acg_at_k_ranked,
    average_precision_ranked,
    ndcg_at_k_ranked,
    precision_at_k_ranked,
    query_chunks,
)
from mlrsir.metrics.relevance import shared_label_counts


def _self_match_count(query_ids, db_ids, num_queries: int, num_database: int) -> tuple[np.ndarray, np.ndarray, int]:
    qid = np.asarray(query_ids).ravel()
    did = np.asarray(db_ids).ravel()
    if qid.shape[0] != num_queries or did.shape[0] != num_database:
        raise ValueError(
            f"exclude_self: query_ids has {qid.shape[0]} entries for {num_queries} queries, "
            f"db_ids {did.shape[0]} for {num_database} database items"
        )
    sorted_db = np.sort(did)
    counts = np.searchsorted(sorted_db, qid, side="right") - np.searchsorted(sorted_db, qid, side="left")
    if counts.size and (counts != counts[0]).any():
        raise ValueError(
            "exclude_self: every query must match the same number of database ids "
            f"(found between {counts.min()} and {counts.max()}); use the same id list for both sides"
        )
    return qid, did, int(counts[0]) if counts.size else 0


@dataclass(frozen=True)
class EvalOptions:
    """The keyword options of :func:`evaluate_distances` / :func:`evaluate_codes`
    (documented at :func:`evaluate_distances`), passed together to the shared implementation."""

    bits: int | None = None
    ks: Any = (10, 100)
    curves: bool = False
    tie_aware: bool = True
    exclude_self: Any = False
    query_ids: Any = None
    db_ids: Any = None
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
    per_query: bool = False


def _evaluate(
    distance_rows: Callable[[slice], np.ndarray],
    shape: tuple[int, int],
    query_labels,
    db_labels,
    options: EvalOptions,
) -> dict:
    """Shared implementation: ``distance_rows(rows)`` gives the ``(len(rows), N)``
    distances of a chunk of queries; ``shape = (Q, N)``."""
    num_queries, num_database = shape
    bits, curves, tie_aware = options.bits, options.curves, options.tie_aware
    exclude_self, query_ids, db_ids = options.exclude_self, options.query_ids, options.db_ids
    ql = np.asarray(query_labels)
    dl = np.asarray(db_labels)
    if ql.ndim != 2 or dl.ndim != 2 or ql.shape[0] != num_queries or dl.shape[0] != num_database:
        raise ValueError(
            f"labels do not match the distances: query_labels {ql.shape}, db_labels {dl.shape}, "
            f"distances ({num_queries}, {num_database})"
        )
    if num_queries == 0 or num_database == 0:
        raise ValueError(f"nothing to evaluate: {num_queries} queries, {num_database} database items")
    ks = [int(k) for k in options.ks]
    n_eff = num_database
    if exclude_self is not None and not isinstance(exclude_self, (bool, np.bool_)):
        query_ids, exclude_self = exclude_self, True  # the query ids given directly
        if db_ids is None:
            db_ids = np.arange(num_database)
    if exclude_self:
        if query_ids is None or db_ids is None:
            raise ValueError("exclude_self=True needs query_ids and db_ids")
        qid, did, self_matches = _self_match_count(query_ids, db_ids, num_queries, num_database)
        n_eff = num_database - self_matches
        if n_eff == 0:
            raise ValueError("exclude_self leaves an empty database")
    rank_ns = curves_mod.rank_grid(n_eff) if curves else []
    pan_ns = curves_mod.precision_at_n_grid(n_eff) if curves else []
    radius_ok = curves and bits is not None

    per_query: dict[str, list[np.ndarray]] = {}

    def add(key: str, values: np.ndarray) -> None:
        per_query.setdefault(key, []).append(np.asarray(values, dtype=np.float64))

    for rows in query_chunks(num_queries, num_database, options.chunk_elements):
        dist = np.asarray(distance_rows(rows))
        gain = shared_label_counts(ql[rows], dl)
        rel = gain > 0  # = relevance_matrix(ql[rows], dl), without a second label product
        if exclude_self and n_eff != num_database:
            keep = qid[rows, None] != did[None, :]
            q = keep.shape[0]
            dist, gain, rel = (a[keep].reshape(q, n_eff) for a in (dist, gain, rel))
        radius_ok = radius_ok and np.issubdtype(dist.dtype, np.integer)
        rl = RankedLists(dist, rel, gain)
        add("num_relevant", rl.num_relevant)
        add("map_stable", average_precision_ranked(rl, None))
        if tie_aware:
            add("map", average_precision_ranked(rl, None, tie_aware=True))
        for k in ks:
            add(f"map_at_{k}_stable", average_precision_ranked(rl, k))
            add(f"precision_at_{k}", precision_at_k_ranked(rl, k))
            add(f"ndcg_at_{k}", ndcg_at_k_ranked(rl, k))
            add(f"acg_at_{k}", acg_at_k_ranked(rl, k))
            if tie_aware:
                add(f"map_at_{k}", average_precision_ranked(rl, k, tie_aware=True))
                add(f"map_at_{k}_min_rk", average_precision_ranked(rl, k, tie_aware=True, denominator="min_rk"))
                add(f"precision_at_{k}_tie_aware", precision_at_k_ranked(rl, k, tie_aware=True))
                add(f"ndcg_at_{k}_tie_aware", ndcg_at_k_ranked(rl, k, tie_aware=True))
                add(f"acg_at_{k}_tie_aware", acg_at_k_ranked(rl, k, tie_aware=True))
        if curves:
            add("rank_hits", curves_mod.relevant_in_top(rl, rank_ns))
            add("pan_hits", curves_mod.relevant_in_top(rl, pan_ns))
            if tie_aware:
                add("rank_hits_tie_aware", curves_mod.relevant_in_top(rl, rank_ns, tie_aware=True))
                add("pan_hits_tie_aware", curves_mod.relevant_in_top(rl, pan_ns, tie_aware=True))
            if radius_ok and bits is not None:
                retrieved, hits = curves_mod.radius_counts(dist, rel, int(bits))
                add("radius_retrieved", retrieved)
                add("radius_hits", hits)

    full = {key: np.concatenate(parts) for key, parts in per_query.items()}
    num_relevant = full.pop("num_relevant")
    result: dict = {}
    for key in sorted(full):
        if full[key].ndim == 1:
            result[key] = float(full[key].mean())
    if not tie_aware:
        result["map"] = result["map_stable"]
        for k in ks:
            result[f"map_at_{k}"] = result[f"map_at_{k}_stable"]
    result.update(
        num_queries=int(num_queries),
        num_database=int(n_eff),
        num_queries_without_relevant=int((num_relevant == 0).sum()),
        bits=None if bits is None else int(bits),
        tie_aware=bool(tie_aware),
    )
    if options.per_query:
        result["per_query_ap"] = [float(x) for x in full["map" if tie_aware else "map_stable"]]
    if curves:
        result["pr_by_rank"] = curves_mod.summarise_rank(
            rank_ns, full["rank_hits"], full.get("rank_hits_tie_aware"), num_relevant, n_eff
        )
        pan = curves_mod.summarise_rank(pan_ns, full["pan_hits"], full.get("pan_hits_tie_aware"), num_relevant, n_eff)
        result["precision_at_n"] = {k: v for k, v in pan.items() if not k.startswith("recall")}
        result["pr_by_radius"] = (
            curves_mod.summarise_radius(full["radius_retrieved"], full["radius_hits"], num_relevant)
            if radius_ok
            else None
        )
    return result


def evaluate_distances(dist, query_labels, db_labels, **options: Any) -> dict:
    """All retrieval metrics of a ``(Q, N)`` distance matrix (smaller = closer).

    Args:
        dist: ``(Q, N)`` int (Hamming) or float (AQD) distances.
        query_labels: ``(Q, C)`` multi-hot; db_labels: ``(N, C)`` multi-hot.
        bits: code length; enables ``pr_by_radius`` for integer distances.
        ks: cut-offs K of mAP@K, P@K, NDCG@K, ACG@K (clipped to N).
        curves: also compute the PR / P@N curves.
        tie_aware: also compute the tie-aware values (``map`` is then tie-aware).
        exclude_self: "database = all but the query" protocol: database items whose id
            equals the query's id are removed from that query's ranking (exactly: the
            metrics are those of the shortened database). Either True with
            ``query_ids (Q,)`` and ``db_ids (N,)``, or directly the ``(Q,)`` query ids,
            with ``db_ids`` defaulting to ``0..N-1`` (then the ids are the database column
            of each query). Every query must match the same number of database items
            (0 or 1 in practice); ``num_database`` reports ``N`` minus that number.
        chunk_elements: (query, item) pairs ranked at once (memory bound).
        per_query: also return ``per_query_ap``: the AP@all of each query (tie-aware when
            ``tie_aware``, else stable), a list in query order, for paired statistics.

    Returns:
        The dict described in the module docstring.
    """
    d = np.asarray(dist)
    if d.ndim != 2:
        raise ValueError(f"dist: expected a (Q, N) matrix, got shape {d.shape}")
    opts = EvalOptions(**options)
    return _evaluate(lambda rows: d[rows], (d.shape[0], d.shape[1]), query_labels, db_labels, opts)


def evaluate_codes(query_codes, db_codes, query_labels, db_labels, *, bits: int | None = None, **options: Any) -> dict:
    """:func:`evaluate_distances` on Hamming distances of codes ``(Q, k)`` and ``(N, k)``
    holding only 0/1 (any integer/bool dtype); ``bits`` defaults to k.

    Distances come from the single Hamming definition of :mod:`mlrsir.metrics.hamming`,
    computed chunk by chunk (the whole ``(Q, N)`` matrix is never held at once).
    """
    q = check_bits(query_codes, "query_codes")
    d = check_bits(db_codes, "db_codes")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"code lengths differ: queries {q.shape[1]} bits, database {d.shape[1]} bits")
    q_packed, d_packed = pack_codes(q), pack_codes(d)
    opts = EvalOptions(bits=q.shape[1] if bits is None else bits, **options)
    return _evaluate(
        lambda rows: hamming_distance_packed(q_packed[rows], d_packed),
        (q.shape[0], d.shape[0]),
        query_labels,
        db_labels,
        opts,
    )
