"""Search over a :class:`~mlrsir.index.store.CodeIndex`: the in-memory code matrix and back-ends.

:class:`CodeSearcher` keeps a packed in-memory copy of the index's codes (ids ascending,
``(N, ceil(bits/8))`` uint8) and the search back-ends built over it (see
:mod:`mlrsir.index.backends`), both built lazily. Every call first compares the index's
``generation`` (incremented by every write, by this or another process) with the one the
copy was loaded at and reloads when they differ, so results always reflect the committed
index. Results per query are ``[(id, distance)]`` sorted by ``(distance, id)``.

Label filter: ``label_filter=[a, b]`` keeps only items whose labels contain **all** of
``a`` and ``b`` (names normalised like label files: lower case, ``-``/space -> ``_``);
a label no item carries simply gives no results. Items without ground-truth labels are
matched on their predicted labels when the index stores predictions
(:func:`mlrsir.index.predicted.label_filter_ids`). Filtered searches build a back-end over
the matching items only (not cached).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlrsir.codes import check_bits, pack_codes, unpack_codes
from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index.backends import make_backend

if TYPE_CHECKING:
    from mlrsir.index.store import CodeIndex


class CodeSearcher:
    """The cached code matrix and back-ends of one open :class:`CodeIndex` (see module doc)."""

    def __init__(self, index: CodeIndex):
        self._index = index
        self._cache: dict | None = None  # generation, ids, packed, backends

    def invalidate(self) -> None:
        """Drop the in-memory copy (the next call reloads it)."""
        self._cache = None

    def _loaded(self) -> dict:
        """In-memory ids ``(N,) int64`` ascending and packed codes ``(N, B) uint8``, fresh."""
        index = self._index
        with index._lock:
            if self._cache is not None and self._cache["generation"] == index._generation():
                return self._cache
            generation, ids, packed = index._read_codes()
            self._cache = {"generation": generation, "ids": ids, "packed": packed, "backends": {}}
            return self._cache

    def ids(self) -> np.ndarray:
        """All ids, ``(N,) int64`` ascending."""
        return self._loaded()["ids"].copy()

    def codes(self, ids=None) -> np.ndarray:
        """Unpacked codes ``(n, bits) uint8`` in {0,1}, of all items (id order) or of ``ids``."""
        bits = self._index.bits
        cache = self._loaded()
        packed = cache["packed"]
        if ids is not None:
            ids = np.asarray(ids, dtype=np.int64).reshape(-1)
            pos = np.searchsorted(cache["ids"], ids)
            pos_clipped = np.minimum(pos, max(0, cache["ids"].size - 1))
            if cache["ids"].size:
                bad = (pos >= cache["ids"].size) | (cache["ids"][pos_clipped] != ids)
            else:
                bad = np.ones(ids.shape, bool)
            if bad.any():
                raise KeyError(int(ids[bad][0]))
            packed = packed[pos]
        return unpack_codes(packed, bits) if packed.shape[0] else np.zeros((0, bits), np.uint8)

    def random_id(self, rng=None) -> int:
        """A uniformly drawn id (``rng``: numpy Generator or seed)."""
        ids = self._loaded()["ids"]
        if ids.size == 0:
            raise IndexStoreError(f"{self._index.path}: the index is empty")
        return int(ids[np.random.default_rng(rng).integers(ids.size)])

    def search(
        self,
        query_codes: np.ndarray,
        k: int | None = 20,
        radius: int | None = None,
        backend: str = "auto",
        label_filter: list[str] | None = None,
    ) -> list[list[tuple[int, int]]]:
        """Nearest items by Hamming distance; see :meth:`CodeIndex.search`."""
        bits = self._index.bits
        q = np.asarray(query_codes)
        if q.ndim == 1:
            q = q[None, :]
        q = check_bits(q, "query_codes")
        if q.shape[1] != bits:
            raise ConfigError(
                f"query codes have {q.shape[1]} bits, the index {self._index.path} stores {bits}-bit codes"
            )
        cache = self._loaded()
        if label_filter:
            from mlrsir.index.predicted import label_filter_ids  # ground truth, else predicted labels

            keep = np.isin(cache["ids"], label_filter_ids(self._index, label_filter)[0])
            engine = make_backend(backend, bits, n=int(keep.sum())).build(cache["packed"][keep], cache["ids"][keep])
        else:
            engine = cache["backends"].get(backend)
            if engine is None:
                engine = make_backend(backend, bits, n=cache["ids"].size).build(cache["packed"], cache["ids"])
                cache["backends"][backend] = engine
        return engine.search(pack_codes(q), k=k, radius=radius)
