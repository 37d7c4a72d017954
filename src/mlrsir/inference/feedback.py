"""Relevance feedback (Rocchio) in the model's continuous output space.

The user marks results relevant or not; the query moves towards the relevant items and
away from the non-relevant ones::

    q' = a * q + b * mean(2 c_r - 1 : r relevant) - c * mean(2 c_n - 1 : n non-relevant)

``q`` is the query's continuous output ``h (bits,)`` in (-1, 1) when known (query by
image), else its code mapped to ±1 (query by item). The index stores only binary codes
``c`` in {0, 1}, so marked items enter as ``2c - 1`` in {-1, +1} (their continuous
outputs are not kept). ``q'`` is scaled into [-1, 1] (order- and sign-preserving), then
binarised (``q' > 0``, :func:`mlrsir.codes.binarize`) for the Hamming search; ties of
Hamming distance are broken by the asymmetric score ``-<q', 2c - 1>`` (as for image
queries, :mod:`mlrsir.inference.search`). Defaults ``a, b, c = 1, 0.75, 0.25`` (the
classical Rocchio weights). An empty side contributes nothing.

:func:`simulate` measures it with simulated users: on a run's test queries against its
training database (``codes.npz``), after 0, 1, 2, ... rounds in which the top ``mark``
results of the current ranking are marked from ground truth (relevant = shares at least
one label), marks accumulating across rounds. Metrics are those of
:func:`mlrsir.metrics.evaluate.evaluate_distances` (mAP@100, P@10) on the full ranking the
user sees (marked relevant items included, as they stay in the result list), plus
"residual" P@10 over items not yet marked (the fair measure of what feedback adds).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mlrsir.codes import binarize
from mlrsir.errors import ConfigError
from mlrsir.inference.label_prediction import run_codes
from mlrsir.inference.search import search_code
from mlrsir.metrics.asymmetric import asymmetric_scores, tiebreak_distances
from mlrsir.metrics.evaluate import evaluate_distances

ROCCHIO = (1.0, 0.75, 0.25)


def rocchio(query, relevant_codes=None, nonrelevant_codes=None, weights=ROCCHIO) -> np.ndarray:
    """``q' (bits,)`` float64 in [-1, 1] (module doc); codes ``(n, bits)`` in {0, 1}."""
    a, b, c = (float(w) for w in weights)
    q = a * np.asarray(query, dtype=np.float64).reshape(-1)
    for codes, w in ((relevant_codes, b), (nonrelevant_codes, -c)):
        if codes is not None and len(codes):
            q = q + w * (2.0 * np.asarray(codes, dtype=np.float64).reshape(len(codes), -1) - 1.0).mean(0)
    top = np.abs(q).max()
    return q / top if top > 0 else q


def feedback_query(
    index, *, query_output=None, query_code=None, item_id=None, relevant=(), nonrelevant=(), weights=ROCCHIO
):
    """``(code (1, bits) uint8, q' (bits,))`` of a feedback search: the query is its output,
    its code, or an indexed item's stored code (in that order of preference)."""
    if query_output is not None:
        q = np.asarray(query_output, dtype=np.float64).reshape(-1)
    else:
        if query_code is None:
            query_code = index.codes(ids=[int(item_id)])[0]
        q = 2.0 * np.asarray(query_code, dtype=np.float64).reshape(-1) - 1.0
    rel = index.codes(ids=[int(i) for i in relevant]) if len(relevant) else None
    non = index.codes(ids=[int(i) for i in nonrelevant]) if len(nonrelevant) else None
    moved = rocchio(q, rel, non, weights)
    return binarize(moved).astype(np.uint8).reshape(1, -1), moved


def search_with_feedback(
    index,
    *,
    k: int,
    relevant: Sequence[int] = (),
    nonrelevant: Sequence[int] = (),
    query_output=None,
    query_code=None,
    item_id: int | None = None,
    weights=ROCCHIO,
    **search_options,
) -> list[dict]:
    """:func:`mlrsir.inference.search.search_code` with the Rocchio-moved query."""

    code, moved = feedback_query(
        index,
        query_output=query_output,
        query_code=query_code,
        item_id=item_id,
        relevant=relevant,
        nonrelevant=nonrelevant,
        weights=weights,
    )
    return search_code(index, code, k=k, query_output=moved.astype(np.float32), **search_options)


def ranked_distances(q_moved: np.ndarray, db_codes: np.ndarray) -> np.ndarray:
    """``(Q, N)`` float: Hamming of ``binarize(q')`` + asymmetric tie-break."""

    bits = db_codes.shape[1]
    qb = binarize(q_moved).astype(np.float32)
    d = db_codes.astype(np.float32)
    ham = qb.sum(1, keepdims=True) + d.sum(1)[None, :] - 2 * qb @ d.T
    return tiebreak_distances(np.rint(ham), asymmetric_scores(q_moved, db_codes), bits)


def _stable_metrics(dist: np.ndarray, rel: np.ndarray) -> tuple[float, float]:
    """``(mAP@100, P@10)`` of a stable ranking (ties by database index) for any relevance;
    AP@100 normalised by min(#relevant, 100)."""
    order = np.argsort(dist, axis=1, kind="stable")[:, :100]
    hits = np.take_along_axis(rel, order, axis=1).astype(np.float64)
    prec = np.cumsum(hits, 1) / np.arange(1, hits.shape[1] + 1)
    den = np.minimum(rel.sum(1), hits.shape[1]).astype(np.float64)
    ap = np.where(den > 0, (prec * hits).sum(1) / np.maximum(den, 1), 0.0)
    return float(ap.mean()), float(hits[:, :10].mean())


def simulate(
    run_dir,
    rounds: int = 2,
    mark: int = 10,
    weights=ROCCHIO,
    max_queries: int | None = None,
    relevance: str = "share",
) -> dict:
    """Simulated feedback on a run's test queries (module doc); JSON-able dict.

    ``relevance``: ``"share"`` (>= 1 shared label, the project's definition; metrics from
    :func:`~mlrsir.metrics.evaluate.evaluate_distances`, tie-aware) or ``"jaccard"``
    (Jaccard similarity of the label sets >= 0.5, a stricter user; stable-sort metrics).
    """

    data = run_codes(run_dir)
    q_idx, db_idx = data["test"], data["trained_on"]
    if max_queries is not None:
        q_idx = q_idx[: int(max_queries)]
    codes, labels = data["codes"].astype(np.uint8), data["labels"].astype(np.uint8)
    outputs = data.get("outputs")
    db_codes, db_labels, q_labels = codes[db_idx], labels[db_idx], labels[q_idx]
    if outputs is not None and outputs.shape[1] == codes.shape[1]:
        q0 = np.clip(outputs[q_idx].astype(np.float64), -1, 1)
        start = "continuous outputs h"
    else:
        q0 = 2.0 * codes[q_idx] - 1.0
        start = "codes as +-1"
    inter = q_labels.astype(np.int32) @ db_labels.T.astype(np.int32)
    if relevance == "jaccard":
        union = q_labels.sum(1, dtype=np.int32)[:, None] + db_labels.sum(1, dtype=np.int32)[None, :] - inter
        rel = inter >= 0.5 * np.maximum(union, 1)
    elif relevance == "share":
        rel = inter > 0
    else:
        raise ConfigError(f"relevance {relevance!r}: expected 'share' or 'jaccard'")
    marked = np.zeros(rel.shape, dtype=bool)
    q = q0.copy()
    a, b, c = (float(w) for w in weights)
    signs = 2.0 * db_codes - 1.0
    rows = []
    for r in range(rounds + 1):
        dist = ranked_distances(q, db_codes)
        if relevance == "share":
            m = evaluate_distances(dist, q_labels, db_labels, bits=codes.shape[1], ks=(10, 100))
        else:
            m = dict(zip(("map_at_100", "precision_at_10"), _stable_metrics(dist, rel)))
        order = np.argsort(dist, axis=1, kind="stable")
        # residual P@10: first `mark` items not marked in earlier rounds
        residual = []
        for i in range(len(q_idx)):
            fresh = order[i][~marked[i][order[i]]][:mark]
            residual.append(rel[i, fresh].mean() if len(fresh) else 0.0)
        rows.append(
            {
                "round": r,
                "map_at_100": float(m["map_at_100"]),
                "precision_at_10": float(m["precision_at_10"]),
                "residual_precision_at_10": float(np.mean(residual)),
                "marked_per_query": float(marked.sum(1).mean()),
            }
        )
        if r == rounds:
            break
        top = order[:, :mark]
        np.put_along_axis(marked, top, True, axis=1)
        pos, neg = marked & rel, marked & ~rel
        npos, nneg = pos.sum(1, keepdims=True), neg.sum(1, keepdims=True)
        mean_pos = np.where(npos > 0, (pos @ signs) / np.maximum(npos, 1), 0.0)
        mean_neg = np.where(nneg > 0, (neg @ signs) / np.maximum(nneg, 1), 0.0)
        q = a * q0 + b * mean_pos - c * mean_neg
        q = q / np.maximum(np.abs(q).max(1, keepdims=True), 1e-12)
    return {
        "run": str(run_dir),
        "bits": int(codes.shape[1]),
        "num_queries": int(len(q_idx)),
        "num_database": int(len(db_idx)),
        "query_start": start,
        "weights": {"a": a, "b": b, "c": c},
        "marked_per_round": int(mark),
        "relevance": relevance,
        "rounds": rows,
    }


RELEVANCE_TEXT = {
    "share": "relevant = shares >= 1 label (the project's definition; tie-aware metrics)",
    "jaccard": "relevant = Jaccard similarity of the label sets >= 0.5 (a stricter user; stable-sort metrics)",
}


def markdown(results) -> str:
    """The report of one :func:`simulate` result or of several (one table per relevance)."""
    results = [results] if isinstance(results, dict) else list(results)
    result = results[0]
    w = result["weights"]
    lines = [
        "# Relevance feedback (Rocchio) on UCM multi-label",
        "",
        f"Run `{result['run']}` ({result['bits']} bits). Generated by `mlrsir feedback simulate`.",
        "",
        f"Queries = test ({result['num_queries']}), database = the run's training items "
        f"({result['num_database']}). Start query: {result['query_start']}. Each round the top "
        f"{result['marked_per_round']} results of the current ranking are marked relevant / non-relevant "
        "from ground truth (definitions below), marks accumulate; "
        f"q' = {w['a']} q + {w['b']} mean(relevant) - {w['c']} mean(non-relevant) over the marked items' "
        "codes as +-1, binarised for Hamming search, ties by <q', code>.",
    ]
    for res in results:
        lines += [
            "",
            f"### {RELEVANCE_TEXT.get(res.get('relevance', 'share'), res.get('relevance'))}",
            "",
            "| rounds of feedback | mAP@100 | P@10 | residual P@10 (unmarked items) | marked per query |",
            "|---|---|---|---|---|",
        ]
        for r in res["rounds"]:
            lines.append(
                f"| {r['round']} | {r['map_at_100']:.4f} | {r['precision_at_10']:.4f} | "
                f"{r['residual_precision_at_10']:.4f} | {r['marked_per_query']:.1f} |"
            )
    lines += [
        "",
        "mAP@100 and P@10 are over the full ranking the user sees (items marked relevant stay in",
        "it, which favours later rounds); residual P@10 counts only items not yet marked.",
    ]
    return "\n".join(lines) + "\n"
