"""Rankings that use what the query knows: its real-valued output ``h``.

A hashing query is an image whose network output ``h (k,)`` (tanh, in (-1, 1)) is at
hand; the database holds only binary codes ``b (k,)`` in {0, 1} (paper Eq. 5). Two
rankings use ``h`` beside the code:

* **Asymmetric score** (:func:`asymmetric_scores`): ``a(q, i) = -<h_q, 2 b_i - 1>``,
  smaller = closer. It lies in ``[-sum|h_q|, sum|h_q|]`` (within ``(-k, k)``); its minimum
  over all codes is reached at ``b = binarize(h_q)``, the query's own code. Ranking by ``a``
  alone is the *full asymmetric* ranking (``map_asym``).
* **Hamming with asymmetric tie-break** (:func:`tiebreak_distances`): Hamming distance
  first, then, inside a tie group of equal Hamming distance, the asymmetric score. Encoded
  as one float distance ``d + (a + k) / (2k + 1)``, which keeps every Hamming group in
  ``[d, d + 1)`` (so the Hamming order is never changed) and orders each group by ``a``.
  Items with *identical* codes still tie (their scores are equal); the tie-aware metrics
  then average over their orders (``map_tiebreak``).

The symmetric Hamming ranking (tie-aware ``map``) stays the headline; these are reported
in their own columns and tables, never mixed with it.
"""

from __future__ import annotations

import numpy as np


def _as_outputs(h, bits: int, name: str) -> np.ndarray:
    x = np.asarray(h, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != bits:
        raise ValueError(f"{name}: expected shape (Q, {bits}), got {np.asarray(h).shape}")
    return x


def asymmetric_scores(query_outputs, db_codes) -> np.ndarray:
    """``(Q, N)`` float64 ``-<h_q, 2 b_i - 1>`` (smaller = closer).

    Args:
        query_outputs: ``(Q, k)`` (or ``(k,)``) real-valued outputs, e.g. tanh in (-1, 1).
        db_codes: ``(N, k)`` codes in {0, 1} (any integer/bool dtype).
    """
    b = np.asarray(db_codes)
    if b.ndim != 2:
        raise ValueError(f"db_codes: expected shape (N, k), got {b.shape}")
    h = _as_outputs(query_outputs, b.shape[1], "query_outputs")
    signs = 2.0 * b.astype(np.float64) - 1.0
    return -(h @ signs.T)


def tiebreak_distances(hamming, scores, bits: int) -> np.ndarray:
    """``(Q, N)`` float64: Hamming distance, ties broken by the asymmetric score.

    ``hamming + (scores + bits) / (2 bits + 1)``; requires ``|scores| <= bits`` (true for
    outputs in [-1, 1]), checked.
    """
    d = np.asarray(hamming, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if d.shape != s.shape:
        raise ValueError(f"hamming {d.shape} and scores {s.shape} differ in shape")
    if s.size and np.abs(s).max() > bits + 1e-9:
        raise ValueError(f"asymmetric scores exceed +-{bits}: query outputs must lie in [-1, 1]")
    return d + (s + bits) / (2.0 * bits + 1.0)


def num_distinct_rows(representation) -> int:
    """Number of distinct database codes (rows of a code or PQ-assignment matrix)."""
    a = np.ascontiguousarray(np.asarray(representation))
    if a.ndim != 2 or a.shape[0] == 0:
        return int(a.shape[0]) if a.ndim >= 1 else 0
    return int(np.unique(a, axis=0).shape[0])
