"""Product quantizer and asymmetric quantizer distance (AQD) for DQN and DTQ.

DQN (Cao et al., AAAI 2016, Eq. 4) and DTQ (Liu et al., ACM MM 2018, Eq. 5) write the
quantizer as ``z ~ C b`` with ``C = diag(C_1, ..., C_M)`` block-diagonal
(``C_m`` a ``d x K`` codebook acting on the m-th block of ``d = D / M`` coordinates) and
``b`` the concatenation of M one-hot vectors of length K. A block-diagonal additive
quantizer *is* the standard sub-vector product quantizer (Jegou et al., PAMI 2011): the
reconstruction of sub-vector m only depends on codebook m. This module therefore stores
the codebooks as one array ``(M, K, d)`` and codes as ``(N, M)`` integer indices.

Consequences used by the methods:

* Iterated conditional modes (ICM, DQN Sec. "Approximate nearest neighbour search",
  Eq. 7) optimises one sub-code at a time with the others fixed. With block-diagonal
  codebooks the M sub-problems are independent, so one ICM sweep is exact and equals
  the nearest codeword per subspace (:meth:`ProductQuantizer.encode`).
* The closed-form least-squares codebook update ``C = X B^T (B B^T)^-1`` (DQN Eq. 6)
  restricted to block-diagonal ``C`` is the mean of the sub-vectors assigned to each
  codeword, i.e. one Lloyd (k-means) step per subspace; :meth:`ProductQuantizer.fit`
  alternates both steps.

AQD (DQN Eq. 8): ``AQD(q, i) = sum_m || q^(m) - C_m[b_im] ||^2`` between a continuous
query ``q`` and the reconstruction of database item ``i``; it is computed through a
lookup table ``T[q, m, k] = || q^(m) - C_m[k] ||^2`` of shape ``(Q, M, K)`` and a
gather-sum over the database codes. It equals the squared Euclidean distance from
``q`` to ``decode(codes_i)``.

Code layout (:func:`pq_layout`): ``bits = M * log2(K)``. Where 8 divides the code length
each subspace gets a byte (K = 256): 24 -> 3 x 256, 32 -> 4 x 256, 48 -> 6 x 256,
64 -> 8 x 256. Otherwise, where 4 divides it, K = 16 (4 bits per subspace):
12 -> 3 x 16, 36 -> 9 x 16. For 36 bits the alternative 4 x 512 was rejected because
512 centroids per subspace need many more training points than a UCM training split
(about 1.3k images) provides and most centroids would stay nearly empty; 9 x 16 also
matches the 12-bit layout. Feature dimension (:func:`pq_dim`): the smallest multiple of
M that is >= 256 (256 for M = 4 or 8, 258 for M = 3 or 6, 261 for M = 9), so every
subspace has the same width.
"""

from __future__ import annotations

import math

import numpy as np

from mlrsir.codes import check_code_length
from mlrsir.errors import ConfigError

PQ_TARGET_DIM = 256


def pq_layout(bits: int) -> tuple[int, int]:
    """Number of codebooks ``M`` and codewords per codebook ``K`` for a code length.

    ``M * log2(K) == bits``; K = 256 where ``bits % 8 == 0``, else K = 16 where
    ``bits % 4 == 0``. Raises :class:`ConfigError` for other lengths.

    >>> [pq_layout(b) for b in (12, 24, 32, 36, 48)]
    [(3, 16), (3, 256), (4, 256), (9, 16), (6, 256)]
    """
    bits = check_code_length(bits)
    if bits % 8 == 0:
        return int(bits // 8), 256
    if bits % 4 == 0:
        return int(bits // 4), 16
    raise ConfigError(
        f"bits={bits}: product quantization needs a code length divisible by 4 (M codebooks of 16 or 256 codewords)"
    )


def pq_dim(num_codebooks: int, target: int = PQ_TARGET_DIM) -> int:
    """Feature dimension D: the smallest multiple of ``num_codebooks`` that is >= target."""
    return int(num_codebooks * math.ceil(target / num_codebooks))


def _squared_distances(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``(N, d)`` x ``(K, d)`` float64 -> ``(N, K)`` float64 squared Euclidean, >= 0."""
    d = (x * x).sum(1)[:, None] - 2.0 * (x @ centers.T) + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


class ProductQuantizer:
    """Sub-vector product quantizer with ``M`` codebooks of ``K`` codewords.

    Attributes:
        dim: D, the vector dimension (divisible by M).
        num_codebooks: M.
        codebook_size: K.
        sub_dim: d = D / M.
        codebooks: ``(M, K, d)`` float32, or None before :meth:`fit`.
    """

    def __init__(self, dim: int, num_codebooks: int, codebook_size: int):
        if num_codebooks <= 0 or codebook_size <= 1:
            raise ConfigError(f"product quantizer needs M >= 1 and K >= 2, got M={num_codebooks}, K={codebook_size}")
        if dim % num_codebooks:
            raise ConfigError(f"product quantizer: dim={dim} is not divisible by M={num_codebooks}")
        self.dim = int(dim)
        self.num_codebooks = int(num_codebooks)
        self.codebook_size = int(codebook_size)
        self.sub_dim = self.dim // self.num_codebooks
        self.codebooks: np.ndarray | None = None

    # ------------------------------------------------------------------ helpers
    @property
    def code_dtype(self):
        """uint8 when K <= 256, else uint16 (K <= 65536)."""
        return np.uint8 if self.codebook_size <= 256 else np.uint16

    def _check_x(self, x, name: str = "x") -> np.ndarray:
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{name}: expected shape (N, {self.dim}), got {arr.shape}")
        return arr.astype(np.float64, copy=False)

    def _split(self, x: np.ndarray) -> np.ndarray:
        """``(N, D)`` -> ``(N, M, d)`` view."""
        return x.reshape(x.shape[0], self.num_codebooks, self.sub_dim)

    def _require_fitted(self) -> np.ndarray:
        if self.codebooks is None:
            raise RuntimeError("ProductQuantizer: fit() must be called before encoding")
        return self.codebooks

    # ------------------------------------------------------------------ fitting
    def fit(self, x, iters: int = 25, seed: int = 0, warm_start: bool = False) -> ProductQuantizer:
        """k-means (Lloyd) per subspace; deterministic for a given ``seed``.

        Args:
            x: ``(N, D)`` float training vectors.
            iters: Lloyd iterations (assignment = ICM step, centroid = least-squares step).
            seed: seeds the initial codeword choice (K distinct training sub-vectors;
                when N < K every sub-vector plus random repeats).
            warm_start: start from the current codebooks instead of a fresh init
                (used by the per-epoch codebook refresh).

        Empty clusters are re-seeded with the sub-vectors that have the largest current
        quantization error (distinct points, deterministic), so no codeword stays unused
        while N >= K.
        """
        xs = self._split(self._check_x(x))
        n = xs.shape[0]
        if n == 0:
            raise ValueError("ProductQuantizer.fit: no training vectors")
        K = self.codebook_size
        if warm_start and self.codebooks is not None:
            centers = self.codebooks.astype(np.float64)
        else:
            rng = np.random.default_rng(seed)
            centers = np.empty((self.num_codebooks, K, self.sub_dim))
            for m in range(self.num_codebooks):
                if n >= K:
                    idx = rng.choice(n, size=K, replace=False)
                else:  # every point becomes a codeword, the rest are repeats
                    idx = np.concatenate([rng.permutation(n), rng.choice(n, size=K - n)])
                centers[m] = xs[idx, m]
        for m in range(self.num_codebooks):
            sub = xs[:, m]
            c = centers[m]
            for _ in range(iters):
                d = _squared_distances(sub, c)
                assign = d.argmin(1)
                counts = np.bincount(assign, minlength=K)
                sums = np.zeros_like(c)
                np.add.at(sums, assign, sub)
                nonempty = counts > 0
                c = c.copy()
                c[nonempty] = sums[nonempty] / counts[nonempty, None]
                empty = np.flatnonzero(~nonempty)
                if empty.size and n >= K:
                    err = d[np.arange(n), assign]
                    worst = np.argsort(-err, kind="stable")[: empty.size]
                    c[empty] = sub[worst]
            centers[m] = c
        self.codebooks = centers.astype(np.float32)
        return self

    # ------------------------------------------------------------------ coding
    def encode(self, x) -> np.ndarray:
        """Nearest codeword per subspace (= exact ICM): ``(N, D)`` -> ``(N, M)`` ints.

        dtype :attr:`code_dtype`; values in ``[0, K)``; ties go to the lowest index.
        """
        cb = self._require_fitted().astype(np.float64)
        xs = self._split(self._check_x(x))
        codes = np.empty((xs.shape[0], self.num_codebooks), dtype=self.code_dtype)
        for m in range(self.num_codebooks):
            codes[:, m] = _squared_distances(xs[:, m], cb[m]).argmin(1)
        return codes

    def _check_codes(self, codes) -> np.ndarray:
        c = np.asarray(codes)
        if c.ndim != 2 or c.shape[1] != self.num_codebooks:
            raise ValueError(f"codes: expected shape (N, {self.num_codebooks}), got {c.shape}")
        if c.size and (c.min() < 0 or c.max() >= self.codebook_size):
            raise ValueError(f"codes: values must lie in [0, {self.codebook_size}), got {c.min()}..{c.max()}")
        return c.astype(np.int64, copy=False)

    def decode(self, codes) -> np.ndarray:
        """Reconstruction ``C b``: ``(N, M)`` ints -> ``(N, D)`` float32."""
        cb = self._require_fitted()
        c = self._check_codes(codes)
        parts = [cb[m][c[:, m]] for m in range(self.num_codebooks)]
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((0, self.dim), np.float32)

    def quantization_error(self, x) -> float:
        """Mean over items of ``||x_i - decode(encode(x_i))||^2`` (DQN Eq. 4 / N)."""
        arr = self._check_x(x)
        rec = self.decode(self.encode(arr)).astype(np.float64)
        return float(((arr - rec) ** 2).sum(1).mean())

    # ------------------------------------------------------------------ search
    def lookup_table(self, query) -> np.ndarray:
        """``T[q, m, k] = ||query_q^(m) - C_m[k]||^2``: ``(Q, D)`` -> ``(Q, M, K)`` float64."""
        cb = self._require_fitted().astype(np.float64)
        qs = self._split(self._check_x(query, "query"))
        table = np.empty((qs.shape[0], self.num_codebooks, self.codebook_size))
        for m in range(self.num_codebooks):
            table[:, m] = _squared_distances(qs[:, m], cb[m])
        return table

    def aqd(self, query, codes, chunk: int = 256) -> np.ndarray:
        """Asymmetric quantizer distance (DQN Eq. 8) by lookup table + gather-sum.

        Args:
            query: ``(Q, D)`` continuous query vectors (not quantized).
            codes: ``(N, M)`` database codes.
            chunk: queries per block (memory ``chunk * N * 8`` bytes).

        Returns:
            ``(Q, N)`` float32, >= 0; equals ``||query_q - decode(codes)_i||^2`` up to
            float rounding. Smaller = closer.
        """
        c = self._check_codes(codes)
        q = self._check_x(query, "query")
        out = np.empty((q.shape[0], c.shape[0]), dtype=np.float32)
        for start in range(0, q.shape[0], chunk):
            table = self.lookup_table(q[start : start + chunk])
            acc = np.zeros((table.shape[0], c.shape[0]))
            for m in range(self.num_codebooks):
                acc += table[:, m, :][:, c[:, m]]
            out[start : start + chunk] = acc
        return out
