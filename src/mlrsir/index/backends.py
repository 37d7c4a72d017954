"""Search back-ends over packed binary codes, all behind one interface.

Every back-end is built from packed codes ``(N, ceil(bits/8))`` uint8 (``pack_codes``
order: MSB first, zero padding bits) and the matching item ids ``(N,)`` int64 sorted
ascending, and answers :meth:`Backend.search` with, per query, a list of
``(id, hamming_distance)`` sorted by ``(distance, id)``.

===================  =========================================================
name                 what it is
===================  =========================================================
``numpy``            the oracle: popcount of XOR via
                     :func:`mlrsir.metrics.hamming.hamming_distance_packed`, then an
                     exact ``(distance, id)`` selection. Slow (O(N) numpy per query).
``faiss``            ``faiss.IndexBinaryFlat`` on codes zero-padded to 4/8/16/32/64
                     bytes (then multiples of 8), the widths faiss has specialised
                     popcount kernels for. Exact. The default (``auto``).
``faiss-unpadded``   ``IndexBinaryFlat`` on ``ceil(bits/8)`` bytes (faiss needs a
                     dimension that is a multiple of 8 bits, so 12 bits use 16).
                     Exact, smallest memory, generic (slower) kernel for odd widths.
``mih``              ``faiss.IndexBinaryMultiHash`` (multi-index hashing: ``nhash``
                     tables over disjoint ``b``-bit substrings, buckets probed up to
                     ``nflip`` flipped bits). Sub-linear and **approximate**: it only
                     ranks candidates found in the probed buckets (distances of those
                     are exact). ``hash`` is the old name of the same back-end.
``ivf``              ``faiss.IndexBinaryIVF``: binary k-means into ``nlist`` cells
                     (trained on a sample), a query scans its ``nprobe`` nearest cells.
                     Approximate; ``nprobe = nlist`` scans everything (exact distances).
``hnsw``             ``faiss.IndexBinaryHNSW`` (graph, ``M`` links, ``efConstruction``,
                     ``efSearch``). Approximate; slow to build (hours at 1e8 on 2 cores).
===================  =========================================================

``flat`` is another name of ``faiss``. ``auto`` is ``flat`` (``numpy`` without faiss) up to
:data:`AUTO_SUBLINEAR_MIN` items and ``ivf`` from there on (chosen by ``mlrsir bench
search``, see ``reports/scale/``). Recall of the approximate back-ends is measured
against the exact result with ties by :func:`mlrsir.metrics.recall.recall_at_k_with_ties` (results of
the approximate back-ends at equal distance may be other members of a tied group than the
exact ones', so their lists are not compared item by item).

Ties. The exact back-ends return exactly the numpy oracle's lists, including which
items are kept among ties at the k-th distance: the oracle ranks by ``(distance, id)``.
faiss scans the database in storage order per query and breaks ties in favour of the
earlier position (its heap compares ``(distance, position)``; the counting selection
used for ``k <= 4096`` keeps the first ``k`` items per distance in scan order). Because
the stored order is ascending id, position order is id order, so the faiss result equals
the oracle. This is checked by the tests on 12-bit codes with many ties.

Radius search returns every item with ``distance <= radius`` (faiss' ``range_search``
is strict, so it is called with ``radius + 1``), sorted by ``(distance, id)``, cut to
the first ``k`` when ``k`` is given.
"""

from __future__ import annotations

from functools import partial
from typing import TypeVar

import numpy as np

from mlrsir.errors import ConfigError
from mlrsir.index.backend_registry import BackendSpec, backend_spec, register_backend, resolve_alias
from mlrsir.metrics.hamming import hamming_distance_packed

# ``auto`` switches from the exact flat scan to IVF at this many items
AUTO_SUBLINEAR_MIN = 2_000_000

# widths with a specialised faiss HammingComputer
_FAISS_FAST_WIDTHS = (4, 8, 16, 32, 64)
# above this k faiss' counting selection would need (bits+1)*k slots per query
_COUNTING_MAX_K = 4096

Results = list[list[tuple[int, int]]]
_B = TypeVar("_B", bound="Backend")


def packed_width(bits: int) -> int:
    """Bytes of a packed code: ``ceil(bits / 8)``."""
    return (int(bits) + 7) // 8


def padded_width(bits: int) -> int:
    """Bytes of a code padded for faiss' fast kernels: 4/8/16/32/64, then multiples of 8."""
    need = packed_width(bits)
    for width in _FAISS_FAST_WIDTHS:
        if need <= width:
            return width
    return -(-need // 8) * 8


def _pad(packed: np.ndarray, width: int) -> np.ndarray:
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    if packed.shape[1] == width:
        return packed
    out = np.zeros((packed.shape[0], width), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out


def _strictly_ascending(ids: np.ndarray, chunk: int = 1 << 22) -> bool:
    """``ids[i] < ids[i + 1]`` everywhere, checked in chunks (bounded temporaries at 1e8)."""
    for start in range(0, max(0, ids.size - 1), chunk):
        part = np.asarray(ids[start : start + chunk + 1])
        if not (part[1:] > part[:-1]).all():
            return False
    return True


def _select_sorted(dist: np.ndarray, k: int | None, radius: int | None) -> np.ndarray:
    """Positions of the result of one query, ordered by (distance, position).

    ``dist`` is ``(N,)`` int; ``k`` None means unlimited; ``radius`` None means any.
    """
    n = dist.shape[0]
    if radius is not None:
        cand = np.flatnonzero(dist <= radius)
    elif k is not None and k < n:
        kth = np.partition(dist, k - 1)[k - 1]
        less = np.flatnonzero(dist < kth)
        equal = np.flatnonzero(dist == kth)[: k - less.size]
        cand = np.concatenate([less, equal])
    else:
        cand = np.arange(n)
    order = np.lexsort((cand, dist[cand]))
    cand = cand[order]
    if k is not None:
        cand = cand[:k]
    return cand


class Backend:
    """Common interface. Subclasses implement :meth:`_build` and :meth:`_search`.

    Attributes:
        name: back-end name (registered in :mod:`mlrsir.index.backend_registry`).
        exact: True when results equal the numpy oracle.
        bits: code length k.
        bytes_per_code: bytes one code occupies in this back-end's storage.
    """

    name = ""
    exact = True
    labels_are_ids = False  # True: ``_search`` returns item ids, not positions (IVF)

    def __init__(self, bits: int):
        self.bits = int(bits)
        self.bytes_per_code = packed_width(bits)
        self.ids = np.zeros(0, dtype=np.int64)
        self.count = 0

    def build(self: _B, packed: np.ndarray, ids: np.ndarray) -> _B:
        """Index ``packed (N, ceil(bits/8)) uint8`` with ids ``(N,) int64`` ascending."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape[1] != packed_width(self.bits):
            raise ValueError(f"packed codes of shape {packed.shape} do not hold {self.bits}-bit codes")
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (packed.shape[0],):
            raise ValueError(f"{ids.shape[0]} ids for {packed.shape[0]} codes")
        if not _strictly_ascending(ids):
            raise ValueError("ids must be strictly ascending")
        self.ids = ids
        self.count = int(ids.size)
        self._build(packed)
        return self

    def search(self, queries_packed: np.ndarray, k: int | None = 20, radius: int | None = None) -> Results:
        """Per query, ``[(id, distance)]`` sorted by (distance, id).

        Args:
            queries_packed: ``(Q, ceil(bits/8))`` uint8.
            k: at most this many results per query (None: no cap).
            radius: keep only ``distance <= radius`` (None: no radius).
        """
        q = np.ascontiguousarray(queries_packed, dtype=np.uint8)
        if q.ndim != 2 or q.shape[1] != packed_width(self.bits):
            raise ValueError(f"query codes of shape {q.shape} do not hold {self.bits}-bit codes")
        if k is not None and k < 1:
            raise ConfigError(f"k must be >= 1, got {k}")
        if radius is not None and radius < 0:
            raise ConfigError(f"radius must be >= 0, got {radius}")
        if q.shape[0] == 0:
            return []
        if self.count == 0:
            return [[] for _ in range(q.shape[0])]
        positions = self._search(q, k, radius)
        to_ids = (lambda p: p) if self.labels_are_ids else (lambda p: self.ids[p])
        if isinstance(positions, tuple):  # dense (Q, k) position and distance matrices
            pos, dist = positions
            return [list(zip(a, b)) for a, b in zip(to_ids(pos).tolist(), dist.tolist())]
        return [list(zip(to_ids(p).tolist(), d.tolist())) for p, d in positions]

    def describe(self) -> str:
        """Name and parameters, for reports."""
        return self.name

    def memory_bytes(self) -> int:
        """Bytes held for the codes (not counting the id array)."""
        return self.count * self.bytes_per_code

    # subclasses -------------------------------------------------------------
    def _build(self, packed: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _search(self, q: np.ndarray, k, radius) -> list[tuple[np.ndarray, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError


class NumpyBackend(Backend):
    """Exact oracle: XOR + byte popcount table, query chunks bounded to ~64 MB."""

    name = "numpy"

    def _build(self, packed):
        self.packed = packed

    def _search(self, q, k, radius):
        n, width = self.packed.shape
        chunk = max(1, (64 << 20) // max(1, n * width))
        out = []
        for start in range(0, q.shape[0], chunk):
            dist = hamming_distance_packed(q[start : start + chunk], self.packed, chunk=chunk)
            for row in dist:
                pos = _select_sorted(row, k, radius)
                out.append((pos, row[pos]))
        return out


class FaissFlatBackend(Backend):
    """Exact ``faiss.IndexBinaryFlat``; ``padded`` chooses the code width (see module doc)."""

    def __init__(self, bits: int, padded: bool = True):
        super().__init__(bits)
        self.padded = padded
        self.name = "faiss" if padded else "faiss-unpadded"
        self.bytes_per_code = padded_width(bits) if padded else packed_width(bits)

    def describe(self) -> str:
        return "flat" if self.padded else "flat (unpadded)"

    def _build(self, packed):
        import faiss

        self.index = faiss.IndexBinaryFlat(self.bytes_per_code * 8)
        if packed.shape[0]:
            self.index.add(_pad(packed, self.bytes_per_code))

    def _search(self, q, k, radius):
        qp = _pad(q, self.bytes_per_code)
        n = self.index.ntotal
        if k is None and radius is not None:
            return _ranked_range_search(self.index, qp, radius)
        kk = _kept(k, n)
        # counting selection for small k (faster); heap otherwise; both tie-correct
        self.index.use_heap = kk > _COUNTING_MAX_K
        dist, pos = self.index.search(qp, kk)
        if radius is None and (pos >= 0).all() and _rows_sorted(dist, pos):
            return pos, dist  # the usual case: nothing to filter or re-order
        return _filter_and_rank(dist, pos, radius)


def _filter_and_rank(dist: np.ndarray, pos: np.ndarray, radius: int | None) -> list:
    """Per query: drop faiss's empty slots (-1) and items beyond ``radius``, then rank the
    rest by (distance, position). Returns ``[(positions int64, distances int64)]``."""
    out = []
    for d, p in zip(dist, pos):
        keep = p >= 0
        if radius is not None:
            keep &= d <= radius
        d, p = d[keep].astype(np.int64), p[keep].astype(np.int64)
        order = np.lexsort((p, d))
        out.append((p[order], d[order]))
    return out


def _kept(k: int | None, n: int) -> int:
    """How many results a top-``k`` search of ``n`` items returns (all of them for ``k=None``)."""
    return n if k is None else min(int(k), n)


def _ranked_search(index, qp: np.ndarray, k: int | None, radius: int | None) -> list:
    """Top-``k`` (all for None) of a faiss binary index for packed queries ``qp`` ``(Q, bytes)``,
    empty slots and items beyond ``radius`` dropped, ranked by (distance, position)
    (:func:`_filter_and_rank`)."""
    dist, pos = index.search(qp, _kept(k, index.ntotal))
    return _filter_and_rank(dist, pos, radius)


def _ranked_range_search(index, qp: np.ndarray, radius: int) -> list:
    """Every item within Hamming ``radius`` of each packed query of ``qp`` ``(Q, bytes)``, from a
    faiss binary index's ``range_search`` (which keeps distances ``< radius + 1``), ranked by
    (distance, position). Returns ``[(positions int64, distances int64)]``, one per query."""
    lims, dist, pos = index.range_search(qp, int(radius) + 1)
    out = []
    for i in range(qp.shape[0]):
        p, d = pos[lims[i] : lims[i + 1]].astype(np.int64), dist[lims[i] : lims[i + 1]].astype(np.int64)
        order = np.lexsort((p, d))
        out.append((p[order], d[order]))
    return out


def _rows_sorted(dist: np.ndarray, pos: np.ndarray) -> bool:
    """True when every row of ``(Q, k)`` results is sorted by (distance, position)."""
    if dist.shape[1] < 2:
        return True
    d0, d1, p0, p1 = dist[:, :-1], dist[:, 1:], pos[:, :-1], pos[:, 1:]
    return bool(((d1 > d0) | ((d1 == d0) & (p1 > p0))).all())


class FaissHashBackend(Backend):
    """Approximate multi-index hashing (``faiss.IndexBinaryMultiHash``).

    ``b`` bits per table (default ``min(bits, 16)``), ``nhash = bits // b`` tables over
    disjoint substrings of the real bits (never over zero padding), ``nflip`` bits flipped
    when probing (default 1). Any item within Hamming distance ``nhash * (nflip + 1) - 1``
    of the query agrees with it on some table up to ``nflip`` bits, so it is found.
    """

    name = "mih"
    exact = False

    def __init__(self, bits: int, b: int | None = None, nflip: int = 1):
        super().__init__(bits)
        self.b = int(b or min(self.bits, 16))
        self.nhash = max(1, self.bits // self.b)
        self.nflip = int(nflip)
        self.bytes_per_code = padded_width(bits)

    def _build(self, packed):
        import faiss

        self.index = faiss.IndexBinaryMultiHash(self.bytes_per_code * 8, self.nhash, self.b)
        self.index.nflip = self.nflip
        if packed.shape[0]:
            self.index.add(_pad(packed, self.bytes_per_code))

    def _search(self, q, k, radius):
        return _ranked_search(self.index, _pad(q, self.bytes_per_code), k, radius)

    def describe(self) -> str:
        return f"mih (b={self.b}, tables={self.nhash}, nflip={self.nflip})"

    def memory_bytes(self) -> int:
        # codes + one int64 id per item per table (faiss stores ids in its buckets)
        return self.count * (self.bytes_per_code + 8 * self.nhash)


def default_nlist(n: int) -> int:
    """IVF cells for ``n`` items: a power of two near ``sqrt(n)``, 1..65536."""
    if n < 2:
        return 1
    return int(min(65536, 2 ** round(np.log2(np.sqrt(n)))))


class FaissIVFBackend(Backend):
    """Approximate ``faiss.IndexBinaryIVF`` over codes padded like ``faiss`` (fast kernels).

    ``nlist`` cells (default :func:`default_nlist`), trained by faiss' binary k-means
    (``niter`` iterations, default 10) on ``train_size`` codes drawn at random (default
    ``32 * nlist``, all when fewer); a query scans its ``nprobe`` nearest cells (default 8,
    capped at ``nlist``). Build cost: training plus one nearest-centroid search per item.

    The inverted lists hold the item ids themselves (``add_with_ids``), so the back-end needs
    no id array of its own (at 1e8 items that saves 800 MB), can be saved and read back
    (:meth:`save`, :meth:`load`; :mod:`mlrsir.index.saved`) and brought up to date in place
    (:meth:`add_items`, :meth:`remove_items`). Radius searches without ``k`` use faiss'
    ``range_search`` over the probed cells.
    """

    name = "ivf"
    exact = False
    labels_are_ids = True

    def __init__(
        self, bits: int, nlist: int | None = None, nprobe: int = 8, train_size: int | None = None, niter: int = 10
    ):
        super().__init__(bits)
        self.bytes_per_code = padded_width(bits)
        self.nlist_option = nlist
        self.nprobe = int(nprobe)
        self.train_size = train_size
        self.niter = int(niter)
        self.mmapped = False  # inverted lists mapped read-only from a saved file (see load)

    def _build(self, packed):
        import faiss

        n = packed.shape[0]
        self.nlist = int(min(self.nlist_option or default_nlist(n), max(1, n)))
        d = self.bytes_per_code * 8
        self.quantizer = faiss.IndexBinaryFlat(d)
        self.index = faiss.IndexBinaryIVF(self.quantizer, d, self.nlist)
        self.index.own_fields = False  # the quantizer is kept alive by this object
        self.index.cp.niter = self.niter
        self.index.cp.min_points_per_centroid = 1  # small samples are fine: no warning
        self.index.nprobe = min(self.nprobe, self.nlist)
        ids = self.ids
        self.ids = np.zeros(0, dtype=np.int64)  # the lists hold the ids
        if n:
            size = min(n, self.train_size or 32 * self.nlist)
            rng = np.random.default_rng(0)
            sample = packed if size == n else packed[np.sort(rng.choice(n, size, replace=False))]
            self.index.train(_pad(sample, self.bytes_per_code))
            self.add_items(packed, ids)

    def add_items(self, packed: np.ndarray, ids: np.ndarray, chunk: int = 1 << 22) -> None:
        """Add codes with their item ids (bounded padded copies of ``chunk`` codes)."""
        for start in range(0, packed.shape[0], chunk):
            part = np.ascontiguousarray(ids[start : start + chunk], dtype=np.int64)
            self.index.add_with_ids(_pad(packed[start : start + chunk], self.bytes_per_code), part)
        self.count = int(self.index.ntotal)

    def remove_items(self, ids) -> int:
        """Remove items by id (one pass over the lists); returns how many were found."""
        import faiss

        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if ids.size == 0:
            return 0
        removed = int(self.index.remove_ids(faiss.IDSelectorBatch(ids.size, faiss.swig_ptr(ids))))
        self.count = int(self.index.ntotal)
        return removed

    def save(self, path) -> None:
        """``faiss.write_index_binary`` to ``path`` (callers write to a temporary name)."""
        import faiss

        faiss.write_index_binary(self.index, str(path))

    @classmethod
    def load(cls, path, bits: int, nprobe: int = 8, mmap: bool = False) -> FaissIVFBackend:
        """Read a file written by :meth:`save`; ``mmap``: map the inverted lists read-only
        (``faiss.IO_FLAG_MMAP``: nothing read until searched; no add/remove then)."""
        import faiss

        index = faiss.read_index_binary(str(path), faiss.IO_FLAG_MMAP if mmap else 0)
        if not isinstance(index, faiss.IndexBinaryIVF):
            raise ValueError(f"{path}: not a binary IVF index ({type(index).__name__})")
        self = cls(bits, nlist=int(index.nlist), nprobe=nprobe)
        if index.d != self.bytes_per_code * 8:
            raise ValueError(f"{path}: codes of {index.d} bits, expected {self.bytes_per_code * 8} (padded)")
        self.index, self.nlist, self.count = index, int(index.nlist), int(index.ntotal)
        self.mmapped = bool(mmap)
        return self

    def _search(self, q, k, radius):
        self.index.nprobe = min(self.nprobe, self.nlist)
        qp = _pad(q, self.bytes_per_code)
        if k is None and radius is not None:
            return _ranked_range_search(self.index, qp, radius)
        return _ranked_search(self.index, qp, k, radius)

    def describe(self) -> str:
        return f"ivf (nlist={self.nlist}, nprobe={min(self.nprobe, self.nlist)})"

    def memory_bytes(self) -> int:
        # inverted lists: code + int64 id per item, plus the centroids
        return self.count * (self.bytes_per_code + 8) + self.nlist * self.bytes_per_code


class FaissHNSWBackend(Backend):
    """Approximate ``faiss.IndexBinaryHNSW`` (``M`` links per node, ``ef_construction``,
    ``ef_search``; ``ef_search`` is raised to ``k`` when smaller)."""

    name = "hnsw"
    exact = False

    def __init__(self, bits: int, M: int = 16, ef_construction: int = 64, ef_search: int = 128):
        super().__init__(bits)
        self.bytes_per_code = padded_width(bits)
        self.M, self.ef_construction, self.ef_search = int(M), int(ef_construction), int(ef_search)

    def _build(self, packed):
        import faiss

        self.index = faiss.IndexBinaryHNSW(self.bytes_per_code * 8, self.M)
        self.index.hnsw.efConstruction = self.ef_construction
        if packed.shape[0]:
            self.index.add(_pad(packed, self.bytes_per_code))

    def _search(self, q, k, radius):
        self.index.hnsw.efSearch = max(self.ef_search, _kept(k, self.index.ntotal))
        return _ranked_search(self.index, _pad(q, self.bytes_per_code), k, radius)

    def describe(self) -> str:
        return f"hnsw (M={self.M}, efConstruction={self.ef_construction}, efSearch={self.ef_search})"

    def memory_bytes(self) -> int:
        # codes + int32 neighbour slots: 2M on level 0, ~M/(M-1) more on upper levels
        return self.count * (self.bytes_per_code + 4 * 2 * self.M + 4 * self.M // max(1, self.M - 1))


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def canonical_backend(name: str, n: int | None = None) -> str:
    """The back-end a name stands for: aliases resolved, ``auto`` decided for ``n`` items."""
    name = resolve_alias(name)
    if name == "auto":
        if not faiss_available():
            return "numpy"
        return "ivf" if n is not None and n >= AUTO_SUBLINEAR_MIN else "faiss"
    return name


def make_backend(name: str, bits: int, n: int | None = None, **options) -> Backend:
    """Back-end by name: ``auto`` (see the module doc; ``n`` is the number of items to
    index), an alias (``flat``, ``hash``) or a name registered in
    :mod:`mlrsir.index.backend_registry`. ``options`` go to the back-end's factory (mih:
    ``b``, ``nflip``; ivf: ``nlist``, ``nprobe``, ``train_size``; hnsw: ``M``,
    ``ef_construction``, ``ef_search``)."""
    spec = backend_spec(canonical_backend(name, n) if name == "auto" else name)
    if spec.needs_faiss and not faiss_available():
        raise ConfigError(f"back-end {name!r} needs the faiss-cpu package, which is not installed")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ConfigError(f"back-end {spec.name!r} takes no option(s) {unknown} (it takes {list(spec.options)})")
    return spec.factory(bits, **options)


UNPADDED_FLAT = partial(FaissFlatBackend, padded=False)

#: The built-in back-ends, in the order ``--backend`` help lists them.
BUILTIN_BACKENDS = (
    BackendSpec(
        "faiss",
        FaissFlatBackend,  # padded=True
        "exact faiss scan (codes padded to 4/8/16/32/64 bytes)",
        exact=True,
        in_scale_bench=True,
        aliases=("flat",),
    ),
    BackendSpec("faiss-unpadded", UNPADDED_FLAT, "exact faiss scan on ceil(bits/8) bytes", exact=True),
    BackendSpec("numpy", NumpyBackend, "exact numpy oracle (slow)", exact=True, needs_faiss=False),
    BackendSpec(
        "mih",
        FaissHashBackend,
        "multi-index hashing (approximate)",
        exact=False,
        in_scale_bench=True,
        options=("b", "nflip"),
        aliases=("hash",),
    ),
    BackendSpec(
        "ivf",
        FaissIVFBackend,
        "binary IVF (approximate; saved beside the index by `mlrsir index ivf`)",
        exact=False,
        saved=True,
        in_scale_bench=True,
        options=("nlist", "nprobe", "train_size", "niter"),
    ),
    BackendSpec(
        "hnsw",
        FaissHNSWBackend,
        "HNSW graph (approximate, slow to build)",
        exact=False,
        in_scale_bench=True,
        options=("M", "ef_construction", "ef_search"),
    ),
)
for _spec in BUILTIN_BACKENDS:
    register_backend(_spec)
