"""Every metric of one method on one (queries, database) pair: :func:`evaluate_method`.

Used by the trainer (``metrics.json`` of a run, benchmark rows) and ``mlrsir evaluate`` so
both report the same columns:

* everything of :func:`mlrsir.metrics.evaluate.evaluate_distances` on the method's own
  ranking (Hamming for hashing methods, AQD for quantizers): ``map`` is the headline
  (tie-aware, symmetric Hamming for hashing methods);
* ``per_query_ap``: the tie-aware AP of each query (list, query order), for paired
  statistics (:mod:`mlrsir.report.stats`);
* ``num_distinct_db_codes``: distinct database codes (hashing) or PQ assignments
  (quantizers) -- how far the database representation is from one code per item;
* hashing methods only (:mod:`mlrsir.metrics.asymmetric`): ``map_tiebreak`` (Hamming,
  ties broken by the query's asymmetric score, tie-aware over what still ties),
  ``map_asym`` (ranking by the asymmetric score alone), and their ``per_query_ap_tiebreak``
  / ``per_query_ap_asym``; ``precision_at_10_tiebreak`` / ``precision_at_10_asym``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrsir.metrics.asymmetric import asymmetric_scores, num_distinct_rows, tiebreak_distances
from mlrsir.metrics.evaluate import evaluate_distances


def evaluate_method(
    method,
    query_outputs,
    db_outputs,
    query_labels,
    db_labels,
    *,
    curves: bool = False,
    db_repr=None,
    exclude_self=False,
    db_ids=None,
) -> dict[str, Any]:
    """Metrics of ``method`` (a :mod:`mlrsir.methods` object) for one protocol.

    Args:
        query_outputs: ``(Q, D)`` head outputs of the queries.
        db_outputs: ``(N, D)`` head outputs of the database (ignored when ``db_repr``).
        db_repr: the stored database representation (codes / assignments), if known.
        exclude_self, db_ids: "database = all but the query" (see ``evaluate_distances``).
    """
    db = method.encode_database(db_outputs) if db_repr is None else np.asarray(db_repr)
    qo = np.asarray(query_outputs)
    dist = method.distances(qo, db)
    hamming = method.retrieval == "hamming"
    bits = int(method.bits) if hamming else None
    common = {"exclude_self": exclude_self, "db_ids": db_ids}
    metrics = evaluate_distances(dist, query_labels, db_labels, bits=bits, curves=curves, per_query=True, **common)
    metrics["num_distinct_db_codes"] = num_distinct_rows(db)
    if hamming:
        scores = asymmetric_scores(qo, db)
        for name, d in (("tiebreak", tiebreak_distances(dist, scores, int(method.bits))), ("asym", scores)):
            extra = evaluate_distances(d, query_labels, db_labels, ks=(10,), per_query=True, **common)
            metrics[f"map_{name}"] = extra["map"]
            metrics[f"precision_at_10_{name}"] = extra["precision_at_10_tie_aware"]
            metrics[f"per_query_ap_{name}"] = extra["per_query_ap"]
    return metrics


def all_but_query_metrics(method, outputs, labels, query_idx, db_idx, db_repr_all=None) -> dict[str, Any]:
    """The headline columns with database = (queries ∪ database) minus the query itself,
    prefixed ``all_but_query_`` (``map``, ``map_stable``, ``map_tiebreak``, ``map_asym``,
    ``precision_at_10``, ``num_database``)."""
    pool = np.union1d(np.asarray(query_idx), np.asarray(db_idx))
    repr_pool = None if db_repr_all is None else np.asarray(db_repr_all)[pool]
    m = evaluate_method(
        method,
        np.asarray(outputs)[query_idx],
        np.asarray(outputs)[pool],
        np.asarray(labels)[query_idx],
        np.asarray(labels)[pool],
        db_repr=repr_pool,
        exclude_self=np.asarray(query_idx),
        db_ids=pool,
    )
    keys = ("map", "map_stable", "map_tiebreak", "map_asym", "precision_at_10", "num_database")
    return {f"all_but_query_{k}": m[k] for k in keys if k in m}
