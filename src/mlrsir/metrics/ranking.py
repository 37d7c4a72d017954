"""Ranking metrics over a distance matrix: mAP (stable and tie-aware), mAP@K, P@K, NDCG, ACG.

Inputs everywhere:

* ``dist``: ``(Q, N)`` distances from each query to each database item, integer (Hamming)
  or float (e.g. asymmetric quantizer distance); **smaller = closer**. NaN is rejected.
* ``rel``: ``(Q, N)`` bool relevance, from :func:`mlrsir.metrics.relevance.relevance_matrix`.
* ``gain``: ``(Q, N)`` non-negative int graded relevance, from
  :func:`mlrsir.metrics.relevance.shared_label_counts` (number of shared labels).

Two ways to rank items of equal distance (a *tie group*):

* **stable**: order by ``(distance, database index)`` -- deterministic but arbitrary
  inside a tie group (Hamming codes of k bits only take k + 1 distance values, so tie
  groups are large).
* **tie-aware** (He, Cakir, Bargal, Sclaroff, "Hashing as Tie-Aware Learning to Rank",
  CVPR 2018, Sec. 3): the *expected* value of the metric when the items of every tie
  group are put in a uniformly random order. It is computed in closed form, never by
  sampling. Items of different distance keep their order.

Notation used in the docstrings, for one query: ``R`` = number of relevant items in the
database, ``i`` = 1-based rank, ``rel_i`` / ``g_i`` = relevance / gain of the item at rank
``i``, ``P@i`` = (number of relevant items in ranks 1..i) / i. For the tie group that
holds rank ``i``: ``s`` = number of items ranked before the group, ``n`` = group size,
``r`` = relevant items in the group, ``R_before`` = relevant items before the group.

A cut-off ``K`` larger than the database size ``N`` is clipped to ``N``. Every function
returns one value per query; averaging is left to the caller (the ``mean_*`` helpers and
:func:`mlrsir.metrics.evaluate.evaluate_distances` average over *all* queries, a query
without any relevant item counting as 0).

Memory: the public functions process queries in chunks of about
``DEFAULT_CHUNK_ELEMENTS`` distances, so ``Q = 1000, N = 100000`` fits in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# number of (query, item) entries ranked at once; ~10 float64/int64 arrays of this size live together
DEFAULT_CHUNK_ELEMENTS = 1 << 20

AP_AT_K_DENOMINATORS = ("retrieved", "min_rk")


def query_chunks(num_queries: int, num_database: int, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS) -> Iterator[slice]:
    """Slices of query rows holding about ``chunk_elements`` (query, item) pairs each."""
    rows = max(1, int(chunk_elements) // max(1, int(num_database)))
    for start in range(0, num_queries, rows):
        yield slice(start, min(num_queries, start + rows))


def stable_order(dist: np.ndarray) -> np.ndarray:
    """Stable ranking: ``(q, N)`` int64 indices sorting each row by ``(distance, index)``.

    Fast paths giving the same order: non-negative integers below 2**16 (all Hamming
    distances) are sorted as uint8/uint16 (numpy's stable sort is then a radix sort);
    float32 and other integers spanning less than 2**32 are mapped to order-preserving
    uint32 keys, joined with the index into unique uint64 keys and sorted (no stability
    needed). float64 uses numpy's stable argsort.

    >>> stable_order(np.array([[2, 0, 2, 1]]))
    array([[1, 3, 0, 2]])
    """
    d = np.asarray(dist)
    if d.size == 0:
        return np.argsort(d, axis=1, kind="stable")
    n = d.shape[1]
    keys32 = None
    if np.issubdtype(d.dtype, np.integer):
        lo, hi = int(d.min()), int(d.max())
        if lo >= 0 and hi < 256:
            return np.argsort(d.astype(np.uint8, copy=False), axis=1, kind="stable")
        if lo >= 0 and hi < 65536:
            return np.argsort(d.astype(np.uint16, copy=False), axis=1, kind="stable")
        if hi - lo < 2**32:
            keys32 = (d.astype(np.int64) - lo).astype(np.uint64)
    elif d.dtype == np.float32:
        bits = (d + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into +0.0
        negative = (bits >> np.uint32(31)).astype(bool)
        keys32 = np.where(negative, ~bits, bits | np.uint32(0x80000000)).astype(np.uint64)
    if keys32 is None or n >= 2**32:
        return np.argsort(d, axis=1, kind="stable")
    keys = (keys32 << np.uint64(32)) | np.arange(n, dtype=np.uint64)
    keys.sort(axis=1)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)


def _check_inputs(dist, rel, name: str = "rel") -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(dist)
    r = np.asarray(rel)
    if d.ndim != 2:
        raise ValueError(f"dist: expected a (Q, N) matrix, got shape {d.shape}")
    if r.shape != d.shape:
        raise ValueError(f"{name}: shape {r.shape} differs from dist shape {d.shape}")
    if d.shape[1] == 0:
        raise ValueError("dist: the database is empty (N = 0)")
    if not (np.issubdtype(d.dtype, np.integer) or np.issubdtype(d.dtype, np.floating)):
        raise ValueError(f"dist: expected integer or float distances, got dtype {d.dtype}")
    if np.issubdtype(d.dtype, np.floating) and np.isnan(d).any():
        raise ValueError("dist: contains NaN distances")
    return d, r


def _take(a: np.ndarray, idx) -> np.ndarray:
    """``a[q, idx[q]]`` for every row ``q``; ``idx`` is ``(q,)`` or ``(q, m)``."""
    idx = np.asarray(idx)
    if idx.ndim == 1:
        return np.take_along_axis(a, idx[:, None], axis=1)[:, 0]
    return np.take_along_axis(a, idx, axis=1)


class RankedLists:
    """One chunk of queries, each with its database ranked, plus tie-group tables.

    Tie groups of a query are indexed ``0..G-1`` in ranking order; some may be empty
    (size 0), which every formula tolerates. Integer distances in a small range use the
    distance value itself as the group index (no sorted copy needed); other distances
    use the rank of the distinct value. Tie-aware metrics are computed from the
    per-group tables in closed form; stable metrics from the ranked lists.

    Attributes (``q`` queries, ``N`` items, position ``p`` = rank - 1):
        relevant: ``(q, N)`` bool, relevance in stable ranked order.
        cum_relevant: ``(q, N)`` int64, relevant items in positions ``0..p`` (inclusive).
        num_relevant: ``(q,)`` int64, ``R`` per query.
        has_gain: whether graded gains were given (NDCG/ACG need them).
        group_size / group_relevant: ``(q, G)`` float64, ``n`` and ``r`` per group.
        group_before / relevant_before: ``(q, G)`` float64, ``s`` (items ranked before the
            group) and ``R_before`` (relevant items ranked before it).
        group_gain / group_exp_gain: ``(q, G)`` float64, sums of ``g`` and ``2^g - 1``
            over the group (only with gains).
    """

    # gains that are integers in [0, _MAX_COUNTED_GAIN] are tabulated by counting
    _MAX_COUNTED_GAIN = 64

    def __init__(self, dist, rel, gain=None):
        d, r = _check_inputs(dist, rel)
        q, n = d.shape
        self.num_queries, self.num_database = q, n
        r = r.astype(bool, copy=False)
        self._dist = d
        self._order = stable_order(d)
        self.relevant = _take(r, self._order)
        self.cum_relevant = np.cumsum(self.relevant, axis=1, dtype=np.int64)
        self.num_relevant = self.cum_relevant[:, -1].copy()
        self.has_gain = gain is not None
        self._gain = None if gain is None else np.asarray(gain)
        if self.has_gain and self._gain.shape != d.shape:
            raise ValueError(f"gain: shape {self._gain.shape} differs from dist shape {d.shape}")
        self._harmonic = _harmonic(n)
        self._cache: dict = {}

        rows = np.arange(q, dtype=np.int64)[:, None]
        lo_hi = (int(d.min()), int(d.max())) if np.issubdtype(d.dtype, np.integer) else None
        if lo_hi is not None and lo_hi[0] >= 0 and lo_hi[1] < max(4 * n, 256):
            # group index = distance value; tables built from the unsorted arrays
            self._group_id = None
            width = lo_hi[1] + 1
            key, rel_k, gain_k = d.astype(np.int64) + rows * width, r, self._gain
        else:
            sorted_d = _take(d, self._order)
            first = np.ones((q, n), dtype=bool)
            np.not_equal(sorted_d[:, 1:], sorted_d[:, :-1], out=first[:, 1:])
            self._group_id = np.cumsum(first, axis=1, dtype=np.int64) - 1
            width = int(self._group_id[:, -1].max()) + 1
            key, rel_k = self._group_id + rows * width, self.relevant
            gain_k = None if gain is None else _take(self._gain, self._order)
        self._build_tables(key.ravel(), rel_k.ravel(), None if gain_k is None else gain_k.ravel(), q, width)
        self.group_before = np.cumsum(self.group_size, axis=1) - self.group_size
        self.relevant_before = np.cumsum(self.group_relevant, axis=1) - self.group_relevant

    def _build_tables(self, key, rel, gain, q: int, width: int) -> None:
        """Per-group sums from flat group keys (``row * width + group``)."""
        shape = (q, width)
        values = 1
        if gain is not None and _small_int_values(gain, self._MAX_COUNTED_GAIN):
            values = int(gain.max(initial=0)) + 1
        # counting needs width * 2 * values cells per query; bounded to keep memory ~ N
        counted = width * 2 * values <= max(4 * self.num_database, 4096) and (
            gain is None or _small_int_values(gain, self._MAX_COUNTED_GAIN)
        )
        if counted:
            # one integer count over (group, gain value, relevant) cells
            code = rel.astype(np.int64) if gain is None else gain.astype(np.int64) * 2 + rel
            counts = np.bincount(key * (2 * values) + code, minlength=q * width * 2 * values)
            counts = counts.reshape(q, width, values, 2).astype(np.float64)
            self.group_size = counts.sum(axis=(2, 3))
            self.group_relevant = counts[..., 1].sum(axis=2)
            if gain is not None:
                per_value = counts.sum(axis=3)  # (q, G, V)
                v = np.arange(values, dtype=np.float64)
                self.group_gain = per_value @ v
                self.group_exp_gain = per_value @ _exp_gain(v)
                # items with gain >= v, for v = 1..V-1 (for the ideal DCG)
                per_query = per_value.sum(axis=1)
                self._cache["at_least"] = np.cumsum(per_query[:, ::-1], axis=1)[:, ::-1][:, 1:]
        else:

            def total(weights=None):
                return (
                    np.bincount(key, weights=weights, minlength=q * width).reshape(shape).astype(np.float64, copy=False)
                )

            self.group_size = total()
            self.group_relevant = total(rel)
            if gain is None:
                return
            g = gain.astype(np.float64)
            self.group_gain = total(g)
            self.group_exp_gain = total(_exp_gain(g))

    def group_of_rank(self, k) -> np.ndarray:
        """Tie group holding rank ``k`` (1-based; ``k`` an int, ``(q,)`` or ``(q, m)``)."""
        k = np.asarray(k)
        idx = np.broadcast_to(k, (self.num_queries,) + k.shape[1:] if k.ndim else (self.num_queries,)) - 1
        if self._group_id is not None:
            return _take(self._group_id, idx)
        return _take(self._dist, _take(self._order, idx)).astype(np.int64)

    def top_gains(self, k: int) -> np.ndarray:
        """``(q, k)`` float64 gains of ranks ``1..k`` in the stable ranking."""
        if not self.has_gain:
            raise ValueError("graded gains are needed: build RankedLists with gain=")
        cached = self._cache.get("top_gains")
        if cached is None or cached.shape[1] < k:
            cached = _take(self._gain, self._order[:, :k]).astype(np.float64)
            self._cache["top_gains"] = cached
        return cached[:, :k]

    def group_ap_numerator(self, k: int | None = None) -> np.ndarray:
        """``(q, g)``: expected ``sum rel_i * P@i`` over the positions of each group that
        lie in the first ``k`` ranks (all positions for ``k=None``); ``g`` = the leading
        groups that can reach the top ``k`` (:meth:`groups_in_top`).

        He et al. 2018 (tie-aware AP, their Eq. for AP_T): at rank ``i = s + j + 1`` of a
        group, ``P(rel_i) = r / n``; given ``rel_i``, each of the ``j`` earlier group
        positions is relevant with probability ``(r - 1) / (n - 1)``, so
        ``E[rel_i * P@i] = (r / n) (R_before + 1 + j (r - 1) / (n - 1)) / i``. Summed over
        the first ``m`` group positions (``j = 0..m-1``):
        ``(r / n) ((R_before + 1) A + (r - 1) / (n - 1) * B)`` with
        ``A = H(s + m) - H(s)``, ``B = m - (s + 1) A`` (``H`` = harmonic numbers; the
        ``(r - 1) / (n - 1)`` term is 0 when ``n = 1``).
        """
        key = ("ap_numerator", k)
        if key not in self._cache:
            g = self.groups_in_top(k)
            n, r, s = self.group_size[:, :g], self.group_relevant[:, :g], self.group_before[:, :g]
            m = n if k is None else self.included_in_top(k)
            self._cache[key] = _ap_numerator(s, n, r, self.relevant_before[:, :g], m, self._harmonic)
        return self._cache[key]

    def groups_in_top(self, k: int | None) -> int:
        """Number ``g`` of leading group columns that hold any of the first ``k`` ranks."""
        if k is None or k >= self.num_database:
            return self.group_size.shape[1]
        return int(self.group_of_rank(k).max()) + 1

    def included_in_top(self, k: int) -> np.ndarray:
        """``(q, g)``: members of each of the leading groups inside the first ``k`` ranks."""
        g = self.groups_in_top(k)
        return np.clip(k - self.group_before[:, :g], 0, self.group_size[:, :g])

    def ideal_gains(self, k: int) -> np.ndarray:
        """``(q, k)`` float64, the ``k`` largest gains of each query, decreasing (for IDCG)."""
        key = ("ideal", k)
        if key not in self._cache:
            at_least = self._cache.get("at_least")
            if at_least is not None:
                # p-th largest gain (0-based p) = number of values v >= 1 with #(gain >= v) > p
                ideal = (at_least[:, :, None] > np.arange(k)[None, None, :]).sum(axis=1)
            else:
                g = self._gain.astype(np.float64)
                top = g if k >= g.shape[1] else -np.partition(-g, k - 1, axis=1)[:, :k]
                ideal = -np.sort(-top, axis=1)[:, :k]
            self._cache[key] = ideal.astype(np.float64)
        return self._cache[key]

    def expected_relevant_in_top(self, k) -> np.ndarray:
        """Expected number of relevant items in the first ``k`` ranks (``k`` int or ``(q, m)``).

        The group cut by rank ``k`` contributes ``m * r / n`` with ``m`` = its members
        inside the top ``k`` (every group position is relevant with probability ``r/n``).
        """
        k = np.minimum(np.asarray(k), self.num_database)
        gid = self.group_of_rank(k)
        s, n = _take(self.group_before, gid), _take(self.group_size, gid)
        r, before = _take(self.group_relevant, gid), _take(self.relevant_before, gid)
        return before + (k - s) * r / n


def _small_int_values(a: np.ndarray, limit: int) -> bool:
    """True when every value of ``a`` is an integer in ``[0, limit]``."""
    if a.size == 0:
        return True
    if np.issubdtype(a.dtype, np.integer) or a.dtype == bool:
        return int(a.min()) >= 0 and int(a.max()) <= limit
    return bool(a.min() >= 0 and a.max() <= limit and np.array_equal(a, np.rint(a)))


def _ap_numerator(s, n, r, r_before, m, harmonic) -> np.ndarray:
    """See :meth:`RankedLists.group_ap_numerator` (broadcasting arrays, float64)."""
    si = s.astype(np.int64)
    a = harmonic[si + m.astype(np.int64)] - harmonic[si]
    b = m - (s + 1.0) * a
    r, n = np.broadcast_arrays(np.asarray(r, dtype=np.float64), np.asarray(n, dtype=np.float64))
    p_rel = np.divide(r, n, out=np.zeros(r.shape), where=n > 0)
    others = np.divide(r - 1.0, n - 1.0, out=np.zeros(r.shape), where=n > 1)
    return p_rel * ((r_before + 1.0) * a + others * b)


def clip_k(k: int | None, num_database: int) -> int:
    """Cut-off used for a database of ``num_database`` items: ``min(k, N)``; None = ``N``."""
    if k is None:
        return int(num_database)
    k = int(k)
    if k < 1:
        raise ValueError(f"cut-off k must be >= 1, got {k}")
    return min(k, int(num_database))


def _harmonic(n: int) -> np.ndarray:
    """``H[j] = sum_{t=1..j} 1/t`` for ``j = 0..n`` (``H[0] = 0``)."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64))])


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _hypergeom_pmf(x: np.ndarray, total: np.ndarray, successes: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """P(X = x) for X ~ Hypergeometric(total, successes, draws); 0 outside the support."""
    from scipy.special import gammaln

    def log_comb(a, b):
        return gammaln(a + 1) - gammaln(b + 1) - gammaln(a - b + 1)

    x = np.asarray(x, dtype=np.float64)
    ok = (x >= 0) & (x <= successes) & (draws - x >= 0) & (draws - x <= total - successes)
    xs = np.where(ok, x, 0.0)
    logp = log_comb(successes, xs) + log_comb(total - successes, draws - xs) - log_comb(total, draws)
    return np.where(ok, np.exp(logp), 0.0)


def average_precision_ranked(
    rl: RankedLists, k: int | None = None, *, tie_aware: bool = False, denominator: str = "retrieved"
) -> np.ndarray:
    """AP per query of one :class:`RankedLists` chunk; see :func:`average_precision`."""
    if denominator not in AP_AT_K_DENOMINATORS:
        raise ValueError(f"denominator must be one of {AP_AT_K_DENOMINATORS}, got {denominator!r}")
    kk = clip_k(k, rl.num_database)
    if tie_aware:
        numerator = rl.group_ap_numerator(None if k is None else kk).sum(axis=1)
    else:
        ranks = np.arange(1, kk + 1, dtype=np.float64)
        numerator = np.where(rl.relevant[:, :kk], rl.cum_relevant[:, :kk] / ranks, 0.0).sum(axis=1)
    if k is None:
        return _safe_divide(numerator, rl.num_relevant)
    if denominator == "min_rk":
        # E[numerator] / min(R, K): the denominator is fixed, so the expectation is linear
        return _safe_divide(numerator, np.minimum(rl.num_relevant, kk))
    if not tie_aware or kk == rl.num_database:
        return _safe_divide(numerator, rl.cum_relevant[:, kk - 1])
    return _tie_aware_ap_at_k_retrieved(rl, kk)


def _tie_aware_ap_at_k_retrieved(rl: RankedLists, k: int) -> np.ndarray:
    """``E[ sum_{i<=K} rel_i P@i / (relevant in top K) ]`` with the ratio 0 when none is retrieved.

    Only the tie group cut by rank ``K`` makes the denominator random. With ``s`` items
    before it, ``m = K - s`` of its ``n`` members inside the top K, and ``X`` = relevant
    ones among those ``m`` (hypergeometric: ``n`` items, ``r`` relevant, ``m`` drawn):

        E = sum_x P(X = x) * (S_before + F(x)) / (R_before + x)

    where ``S_before`` = expected numerator of the groups before (independent of X) and
    ``F(x)`` = expected numerator of the ``m`` included positions given X = x: given x,
    they hold a uniformly random arrangement of x relevant items, i.e. the group formula
    of :meth:`RankedLists.group_ap_numerator` with ``n -> m`` and ``r -> x``.
    """
    gid = rl.group_of_rank(k)
    s = _take(rl.group_before, gid)
    n = _take(rl.group_size, gid)
    r = _take(rl.group_relevant, gid)
    r_before = _take(rl.relevant_before, gid)
    full = rl.group_ap_numerator()[:, : rl.groups_in_top(k)]
    s_before = _take(np.cumsum(full, axis=1) - full, gid)
    m = k - s
    x = np.arange(k + 1, dtype=np.float64)[None, :]  # (1, K+1): possible relevant counts
    pmf = _hypergeom_pmf(x, n[:, None], r[:, None], m[:, None])
    col = (slice(None), None)
    f = _ap_numerator(s[col], m[col], x, r_before[col], m[col], rl._harmonic)
    value = _safe_divide(s_before[col] + f, r_before[col] + x)
    return (pmf * value).sum(axis=1)


def precision_at_k_ranked(rl: RankedLists, k: int, *, tie_aware: bool = False) -> np.ndarray:
    """P@K per query of one chunk; see :func:`precision_at_k`."""
    kk = clip_k(k, rl.num_database)
    hits = rl.expected_relevant_in_top(kk) if tie_aware else rl.cum_relevant[:, kk - 1]
    return hits / float(kk)


def _exp_gain(g: np.ndarray) -> np.ndarray:
    return np.exp2(g) - 1.0


def _discount_sums(k: int) -> np.ndarray:
    """``D[j] = sum_{i=1..j} 1 / log2(i + 1)`` for ``j = 0..k``."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64)))])


def _need_gain(rl: RankedLists) -> None:
    if not rl.has_gain:
        raise ValueError("graded gains are needed: build RankedLists with gain=")


def ndcg_at_k_ranked(rl: RankedLists, k: int, *, tie_aware: bool = False) -> np.ndarray:
    """NDCG@K per query of one chunk; see :func:`ndcg_at_k`."""
    _need_gain(rl)
    kk = clip_k(k, rl.num_database)
    disc = _discount_sums(kk)
    if tie_aware:
        # the mean of 2^g - 1 over a group times the discounts of its positions inside the top K
        inside = rl.included_in_top(kk)
        g = inside.shape[1]
        lo = np.minimum(rl.group_before[:, :g], kk).astype(np.int64)
        hi = (lo + inside).astype(np.int64)
        mean = _safe_divide(rl.group_exp_gain[:, :g], rl.group_size[:, :g])
        dcg = (mean * (disc[hi] - disc[lo])).sum(axis=1)
    else:
        dcg = _exp_gain(rl.top_gains(kk)) @ np.diff(disc)
    idcg = _exp_gain(rl.ideal_gains(kk)) @ np.diff(disc)
    return _safe_divide(dcg, idcg)


def acg_at_k_ranked(rl: RankedLists, k: int, *, tie_aware: bool = False) -> np.ndarray:
    """ACG@K per query of one chunk; see :func:`acg_at_k`."""
    _need_gain(rl)
    kk = clip_k(k, rl.num_database)
    if tie_aware:
        inside = rl.included_in_top(kk)
        g = inside.shape[1]
        total = (_safe_divide(rl.group_gain[:, :g], rl.group_size[:, :g]) * inside).sum(axis=1)
    else:
        total = rl.top_gains(kk).sum(axis=1)
    return total / float(kk)


def _per_query(dist, rel, gain, fn, chunk_elements: int) -> np.ndarray:
    d, r = _check_inputs(dist, rel)
    out = np.empty(d.shape[0], dtype=np.float64)
    for rows in query_chunks(d.shape[0], d.shape[1], chunk_elements):
        rl = RankedLists(d[rows], r[rows], None if gain is None else np.asarray(gain)[rows])
        out[rows] = fn(rl)
    return out


def average_precision(
    dist,
    rel,
    k: int | None = None,
    *,
    tie_aware: bool = False,
    denominator: str = "retrieved",
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> np.ndarray:
    """Average precision per query: ``(Q,)`` float64 in [0, 1].

    * ``k=None`` (AP@all): ``AP = (1/R) * sum_{i=1..N} rel_i * P@i``; 0 when ``R = 0``.
    * ``k=K``, ``denominator="retrieved"`` (default; the hashing-literature mAP@K of the
      DPSH/DCH evaluation code): ``AP@K = sum_{i<=K} rel_i P@i / (relevant items in the
      top K)``; 0 when the top K holds no relevant item.
    * ``k=K``, ``denominator="min_rk"``: ``sum_{i<=K} rel_i P@i / min(R, K)``; 0 when R = 0.

    ``tie_aware=True`` returns the expectation over uniformly random orders inside tie
    groups (He et al. 2018), exactly; for ``"retrieved"`` the random denominator is handled
    by conditioning on the hypergeometric number of relevant items of the cut tie group.

    >>> dist = np.array([[0, 1, 1]]); rel = np.array([[False, False, True]])
    >>> average_precision(dist, rel)  # relevant item at rank 3: 1/3
    array([0.33333333])
    >>> average_precision(dist, rel, tie_aware=True)  # rank 2 or 3: (1/2 + 1/3) / 2
    array([0.41666667])
    """
    return _per_query(
        dist,
        rel,
        None,
        lambda rl: average_precision_ranked(rl, k, tie_aware=tie_aware, denominator=denominator),
        chunk_elements,
    )


def mean_average_precision(dist, rel, k: int | None = None, **kwargs) -> float:
    """mAP: mean of :func:`average_precision` over **all** queries (R = 0 counts as 0)."""
    return float(np.mean(average_precision(dist, rel, k, **kwargs)))


def precision_at_k(
    dist, rel, k: int, *, tie_aware: bool = False, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> np.ndarray:
    """Precision of the first K ranks per query: ``(relevant in top K) / K``, ``(Q,)`` float64.

    ``K`` is clipped to ``N``. Tie-aware: expected value, ``(R_before + m r / n) / K`` for
    the tie group cut by rank K (``m`` of its members inside the top K).

    >>> precision_at_k(np.array([[0, 1, 1]]), np.array([[1, 0, 1]]), 2, tie_aware=True)
    array([0.75])
    """
    return _per_query(dist, rel, None, lambda rl: precision_at_k_ranked(rl, k, tie_aware=tie_aware), chunk_elements)


def ndcg_at_k(
    dist, gain, k: int, *, tie_aware: bool = False, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> np.ndarray:
    """Normalised discounted cumulative gain at K per query, ``(Q,)`` float64 in [0, 1].

    ``DCG@K = sum_{i<=K} (2^{g_i} - 1) / log2(i + 1)`` with ``g_i`` = number of labels
    shared with the query; ``NDCG@K = DCG@K / IDCG@K`` where ``IDCG@K`` is the DCG of the
    whole database sorted by decreasing gain (the best possible top K). 0 when
    ``IDCG = 0`` (no item shares a label). Tie-aware: ``2^g - 1`` at each rank replaced by
    its mean over the tie group (its expectation under a random order).

    >>> np.round(ndcg_at_k(np.array([[0, 1]]), np.array([[1, 2]]), 2), 4)  # (1 + 3/log2 3) / (3 + 1/log2 3)
    array([0.7967])
    """
    g = np.asarray(gain)
    return _per_query(dist, g > 0, g, lambda rl: ndcg_at_k_ranked(rl, k, tie_aware=tie_aware), chunk_elements)


def acg_at_k(
    dist, gain, k: int, *, tie_aware: bool = False, chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> np.ndarray:
    """Average cumulative gain at K per query: mean number of shared labels in the top K.

    ``ACG@K = (1/K) sum_{i<=K} g_i`` (K clipped to N); tie-aware: expectation.

    >>> acg_at_k(np.array([[0, 1, 2]]), np.array([[2, 0, 1]]), 2)
    array([1.])
    """
    g = np.asarray(gain)
    return _per_query(dist, g > 0, g, lambda rl: acg_at_k_ranked(rl, k, tie_aware=tie_aware), chunk_elements)


def expected_random_average_precision(num_relevant, num_database) -> np.ndarray:
    """Expected AP@all of a uniformly random ranking (closed form, the tie-aware AP of a
    single tie group holding the whole database):

    ``E[AP] = (1/N) * (H_N + (R - 1) (N - H_N) / (N - 1))`` for ``R >= 1`` (0 for R = 0;
    ``H_N`` = N-th harmonic number). Examples: R = 1 gives ``H_N / N``; R = N gives 1.

    >>> float(expected_random_average_precision(1, 2))  # rank 1 or 2: (1 + 1/2) / 2
    0.75
    """
    r = np.asarray(num_relevant, dtype=np.float64)
    n = int(num_database)
    h = _harmonic(n)[n]
    others = (r - 1.0) * (n - h) / (n - 1) if n > 1 else 0.0 * r
    return np.where(r > 0, (h + others) / n, 0.0)
