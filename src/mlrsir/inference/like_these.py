"""Find all like these: a linear classifier on the stored codes, fitted to marked items.

The user marks archive items as examples (✓, positives) and counter-examples (✗,
negatives). A logistic regression on the codes mapped to ±1, ``x = 2c - 1`` in
{-1, +1}^bits, is fitted to the marks and the whole archive is ranked by its score
``s(x) = <w, x> + b`` (higher = more like the positives). The fit minimises the
class-balanced, L2-regularised logistic loss::

    L(w, b) = sum_i a_i log(1 + exp(-y_i (<w, x_i> + b))) + (l2 / 2) |w|^2

with ``y_i = +1`` for positives and ``-1`` for negatives, and weights ``a_i`` such that
the positives together and the negatives together weigh 1 each (3 ✓ and 20 ✗ count
alike). It is solved by Newton's method (``bits`` x ``bits`` Hessian; the bias is not
regularised). Without any negative, ``background`` unmarked archive items drawn at random
(seeded) stand in for them: most of an archive is unlike a handful of examples.

Items with the same code get the same score (rounded to 1e-9, :func:`item_scores`): the
ranking is stable (ties by archive position) and :func:`tie_aware_precision` gives the
expected precision over tie orders.

The comparison baseline is Rocchio (:mod:`mlrsir.inference.feedback`) started from the
first positive (:func:`rocchio_scores`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrsir.errors import ConfigError
from mlrsir.inference.feedback import ROCCHIO, ranked_distances, rocchio
from mlrsir.inference.search import result_rows

DEFAULT_L2 = 10.0  # chosen on the UCM validation split (reports/ucm-like-these/README.md)
DEFAULT_BACKGROUND = 256


def signed(codes: np.ndarray) -> np.ndarray:
    """``(n, bits)`` codes in {0, 1} -> float64 in {-1, +1}."""
    return 2.0 * np.asarray(codes, dtype=np.float64) - 1.0


def fit_linear(
    positives: np.ndarray, negatives: np.ndarray, *, l2: float = DEFAULT_L2, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """``(w (bits,), b)`` of the balanced L2 logistic regression (module doc).

    Args:
        positives: ``(p, bits)`` codes in {0, 1}, p >= 1.
        negatives: ``(n, bits)`` codes in {0, 1}, n >= 1.
        l2: regularisation strength (> 0 keeps the problem strictly convex, so separable
            marks still give finite weights).
    """
    pos, neg = signed(positives), signed(negatives)
    if pos.ndim != 2 or neg.ndim != 2 or not len(pos) or not len(neg) or pos.shape[1] != neg.shape[1]:
        raise ConfigError(
            f"fit_linear needs >= 1 positive and >= 1 negative of one code length, got {pos.shape}, {neg.shape}"
        )
    if l2 <= 0:
        raise ConfigError(f"l2 must be > 0, got {l2}")
    x = np.hstack([np.vstack([pos, neg]), np.ones((len(pos) + len(neg), 1))])
    y = np.concatenate([np.ones(len(pos)), -np.ones(len(neg))])
    a = np.concatenate([np.full(len(pos), 1.0 / len(pos)), np.full(len(neg), 1.0 / len(neg))])
    reg = np.full(x.shape[1], float(l2))
    reg[-1] = 0.0
    theta = np.zeros(x.shape[1])
    for _ in range(int(iterations)):
        margin = y * (x @ theta)
        p = 1.0 / (1.0 + np.exp(np.clip(margin, -50, 50)))  # sigma(-margin)
        grad = -(x.T @ (a * y * p)) + reg * theta
        hess = (x.T * (a * p * (1.0 - p))) @ x + np.diag(reg) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], float(theta[-1])


def background_sample(num_items: int, exclude: Sequence[int], count: int, seed: int = 0) -> np.ndarray:
    """Up to ``count`` archive positions not in ``exclude``, drawn without replacement (seeded)."""
    free = np.setdiff1d(np.arange(int(num_items)), np.asarray(list(exclude), dtype=np.int64))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(free, size=min(int(count), len(free)), replace=False))


def classifier_scores(
    codes: np.ndarray,
    positives: Sequence[int],
    negatives: Sequence[int] = (),
    *,
    l2: float = DEFAULT_L2,
    background: int = DEFAULT_BACKGROUND,
    seed: int = 0,
) -> np.ndarray:
    """``(N,)`` scores of every archive item (higher = more like the positives).

    ``codes (N, bits)`` in {0, 1}; ``positives``/``negatives``: positions into ``codes``.
    Without negatives, ``background`` unmarked items stand in (module doc).
    """
    positives, negatives = list(map(int, positives)), list(map(int, negatives))
    if not positives:
        raise ConfigError("find all like these needs at least one positive (✓) item")
    if set(positives) & set(negatives):
        raise ConfigError(f"items marked both ✓ and ✗: {sorted(set(positives) & set(negatives))}")
    if not negatives:
        negatives = background_sample(len(codes), positives, background, seed).tolist()
        if not negatives:
            raise ConfigError("find all like these: no negative and no other archive item to stand in")
    w, b = fit_linear(codes[positives], codes[negatives], l2=l2)
    return item_scores(codes, w, b)


def item_scores(codes: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """``(n,)`` scores ``<w, 2c - 1> + b`` rounded to 1e-9, so that equal codes score equal
    whatever the batch (matrix products of other sizes differ in the last bits)."""
    return np.round(signed(codes) @ w + b, 9)


def rocchio_scores(
    codes: np.ndarray, positives: Sequence[int], negatives: Sequence[int] = (), weights=ROCCHIO
) -> np.ndarray:
    """``(N,)`` scores of the Rocchio baseline: the first positive's ±1 code moved towards
    all positives and away from the negatives, ranked by Hamming distance with the
    asymmetric tie-break (negated, so higher = closer)."""
    positives, negatives = list(map(int, positives)), list(map(int, negatives))
    if not positives:
        raise ConfigError("Rocchio needs at least one positive (✓) item")
    non = codes[negatives] if negatives else None
    moved = rocchio(signed(codes[positives[0]]), codes[positives], non, weights)
    return -ranked_distances(moved.reshape(1, -1), np.asarray(codes, dtype=np.uint8))[0]


def rank(scores: np.ndarray, exclude: Sequence[int] = (), k: int | None = None) -> np.ndarray:
    """Archive positions by decreasing score, stable (ties by position), ``exclude`` left out."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    if len(exclude):
        order = order[~np.isin(order, np.asarray(list(exclude), dtype=np.int64))]
    return order if k is None else order[: int(k)]


def tie_aware_precision(scores: np.ndarray, relevant: np.ndarray, k: int, exclude: Sequence[int] = ()) -> float:
    """Expected precision of the top ``k`` over all orders of tied scores.

    ``relevant (N,)`` bool; ``exclude``: positions left out of the ranking (the marked ones).
    Items scoring above the k-th score count fully; the tied group at the cut counts in
    proportion to the places left for it.
    """
    keep = np.ones(len(scores), dtype=bool)
    keep[np.asarray(list(exclude), dtype=np.int64)] = False
    s, r = np.asarray(scores, dtype=np.float64)[keep], np.asarray(relevant, dtype=bool)[keep]
    k = min(int(k), len(s))
    if k <= 0:
        raise ValueError("tie_aware_precision: nothing left to rank")
    kth = np.sort(s)[::-1][k - 1]
    above, tied = s > kth, s == kth
    hits = r[above].sum() + (k - above.sum()) * r[tied].mean()
    return float(hits / k)


def search_like_these(
    index,
    positives: Sequence[int],
    negatives: Sequence[int] = (),
    *,
    k: int = 20,
    l2: float = DEFAULT_L2,
    allowed: set[int] | None = None,
    chunk: int = 1 << 20,
) -> list[dict[str, Any]]:
    """Rank the whole index by the classifier fitted to the marked ids (find all like these,
    :mod:`mlrsir.inference.like_these`); rows carry ``score`` (higher = more alike), marked
    items left out, ties by id; ``allowed``: only these ids are ranked (label / place filters).
    Codes are read ``chunk`` items at a time (bounded memory)."""
    marked = [int(i) for i in positives] + [int(i) for i in negatives]
    known = index.get_many(marked)
    missing = [i for i in marked if i not in known]
    if missing:
        raise ConfigError(f"{index.db_path}: no item with id {missing[0]} (marked items must be indexed)")
    pos_codes = index.codes(ids=[int(i) for i in positives])
    neg_ids = [int(i) for i in negatives]
    ids = index.ids()
    if not neg_ids:
        neg_ids = ids[background_sample(len(ids), np.flatnonzero(np.isin(ids, marked)), DEFAULT_BACKGROUND)].tolist()
    if not len(pos_codes) or not neg_ids:
        raise ConfigError("find all like these needs >= 1 positive and an archive with other items")
    w, b = fit_linear(pos_codes, index.codes(ids=neg_ids), l2=l2)
    best_ids = np.zeros(0, np.int64)
    best_scores = np.zeros(0)
    for start in range(0, len(ids), int(chunk)):
        part = ids[start : start + int(chunk)]
        part = part[~np.isin(part, marked)]
        if allowed is not None:
            part = part[np.isin(part, np.fromiter(allowed, np.int64, len(allowed)))]
        scores = item_scores(index.codes(ids=part.tolist()), w, b)
        best_ids = np.concatenate([best_ids, part])
        best_scores = np.concatenate([best_scores, scores])
        if len(best_ids) > int(k):
            order = np.lexsort((best_ids, -best_scores))[: int(k)]
            best_ids, best_scores = best_ids[order], best_scores[order]
    order = np.lexsort((best_ids, -best_scores))[: int(k)]
    return result_rows(index, [(int(i), float(v)) for i, v in zip(best_ids[order], best_scores[order])], key="score")
