"""Search over the snapshots of an index: the mapped codes and the back-ends.

:class:`CodeSearcher` holds a :class:`Snapshot` of the index's codes: for a format 3 index
the memory-mapped code and id files (:mod:`mlrsir.index.codefile`: nothing is read until a
search needs it) and the ids of removed items still in them (tombstones); for a format 1/2
index an in-memory copy read from the ``code`` column. Every call first compares the
index's ``generation`` (incremented by every write, by this or another process) with the
snapshot's and takes a new snapshot when they differ, so results always reflect the
committed index. Results per query are ``[(id, distance)]`` sorted by ``(distance, id)``.

Back-ends (:mod:`mlrsir.index.backends`) are built lazily over the live items (tombstones
left out) and cached per snapshot. The IVF back-end (``auto`` from
:data:`~mlrsir.index.backends.AUTO_SUBLINEAR_MIN` items) is not rebuilt when it can be
had cheaper (:meth:`CodeSearcher.ivf`): the previous in-memory one brought up to date, or
the saved file (:mod:`mlrsir.index.saved`; memory-mapped when it is current, else read and
brought up to date), and only otherwise built from the mapped codes.

Label filter: ``label_filter=[a, b]`` keeps only items whose labels contain **all** of
``a`` and ``b`` (names normalised like label files: lower case, ``-``/space -> ``_``);
a label no item carries simply gives no results. Items without ground-truth labels are
matched on their predicted labels when the index stores predictions
(:func:`mlrsir.index.predicted.label_filter_ids`, reached through
:meth:`SnapshotSource.label_filter_ids`). The searcher imports nothing of the store: it is
handed a :class:`SnapshotSource`. Filtered searches build a back-end over
the matching items only (not cached).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from mlrsir.codes import check_bits, pack_codes, unpack_codes
from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index import saved
from mlrsir.index.backend_registry import backend_spec
from mlrsir.index.backends import Backend, canonical_backend, make_backend


class Snapshot:
    """The codes of one committed state of an index.

    Attributes:
        generation: the index generation it shows.
        next_id: the index's next id at that generation.
        ids: ``(N,) int64`` ids of the slots, ascending (memory map or array).
        packed: ``(N, ceil(bits/8)) uint8`` codes of the slots.
        tombstones: sorted ids of removed items whose slots are still in ``ids``.
        count: live items (``N - len(tombstones)``).
        stored: True for a format 3 index (code files; saved search structures apply).
        log_from: the removal log reaches back to this generation (format 3).
    """

    def __init__(self, generation, next_id, ids, packed, tombstones, stored: bool = False, log_from: int = 0):
        self.generation = int(generation)
        self.next_id = int(next_id)
        self.ids = ids
        self.packed = packed
        self.tombstones = np.asarray(tombstones, dtype=np.int64)
        self.count = int(ids.shape[0]) - int(self.tombstones.size)
        self.stored = bool(stored)
        self.log_from = int(log_from)
        self._live: tuple[np.ndarray, np.ndarray] | None = None

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, packed)`` of the live items (views of the maps when nothing is removed)."""
        if self.tombstones.size == 0:
            return self.ids, self.packed
        if self._live is None:
            keep = ~np.isin(np.asarray(self.ids), self.tombstones)
            self._live = (np.asarray(self.ids)[keep], np.asarray(self.packed)[keep])
        return self._live

    def lookup(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, found)`` of ``ids``: slot positions and whether each id is live."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        pos = np.searchsorted(self.ids, ids)
        if self.ids.shape[0]:
            clipped = np.minimum(pos, self.ids.shape[0] - 1)
            found = (pos < self.ids.shape[0]) & (np.asarray(self.ids[clipped]) == ids)
        else:
            found = np.zeros(ids.shape, bool)
        if self.tombstones.size:
            found &= ~np.isin(ids, self.tombstones)
        return pos, found

    def positions(self, ids) -> np.ndarray:
        """Slot positions of live ``ids``; KeyError naming the first unknown or removed one."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        pos, found = self.lookup(ids)
        if not found.all():
            raise KeyError(int(ids[~found][0]))
        return pos


class SnapshotSource(Protocol):
    """What a :class:`CodeSearcher` is handed (an open :class:`~mlrsir.index.store.CodeIndex`
    provides it): the committed state as snapshots, and the label filter."""

    path: Path
    bits: int

    @property
    def generation(self) -> int:
        """The committed generation (changes with every write)."""
        ...

    def snapshot(self) -> Snapshot:
        """One consistent view of the committed codes."""
        ...

    def removed_since(self, generation: int, upto: int, below_id: int) -> np.ndarray | None:
        """Ids below ``below_id`` removed after ``generation`` up to ``upto``; None when the log is shorter."""
        ...

    def label_filter_ids(self, labels: list[str]) -> np.ndarray:
        """Ids of the items passing the label filter."""
        ...


class CodeSearcher:
    """The snapshot and back-ends over a :class:`SnapshotSource` (see module doc).

    ``lock``: the source's lock when it has one (snapshots, and IVFs brought up to date in
    place, are taken under it), else a lock of the searcher's own.
    """

    def __init__(self, source: SnapshotSource, lock: threading.RLock | None = None):
        self._index = source
        self.lock = lock if lock is not None else threading.RLock()
        self._cache: dict | None = None  # snapshot, backends
        self._ivf_prev: tuple[Backend, int, int] | None = None  # in-memory IVF, its generation, next_id

    def invalidate(self) -> None:
        """Drop the snapshot (the next call takes a new one); an in-memory IVF is kept to be
        brought up to date."""
        self._cache = None

    def clear(self) -> None:
        """Drop everything (the index is closed)."""
        self._cache = None
        self._ivf_prev = None

    def _loaded(self) -> dict:
        index = self._index
        with self.lock:
            if self._cache is not None and self._cache["snapshot"].generation == index.generation:
                return self._cache
            self._cache = {"snapshot": index.snapshot(), "backends": {}}
            return self._cache

    def cached_backend(self, name: str) -> Backend | None:
        """The back-end ``name`` built (or loaded) for the current snapshot, None when none is."""
        with self.lock:
            return None if self._cache is None else self._cache["backends"].get(name)

    def snapshot(self) -> Snapshot:
        """The current :class:`Snapshot`."""
        return self._loaded()["snapshot"]

    def ids(self) -> np.ndarray:
        """All ids, ``(N,) int64`` ascending."""
        return np.array(self.snapshot().live()[0], dtype=np.int64)

    def packed_of(self, ids) -> np.ndarray:
        """Packed codes ``(n, ceil(bits/8))`` of live ``ids`` (KeyError for others)."""
        snap = self.snapshot()
        return np.asarray(snap.packed[snap.positions(ids)])

    def codes(self, ids=None) -> np.ndarray:
        """Unpacked codes ``(n, bits) uint8`` in {0,1}, of all items (id order) or of ``ids``."""
        bits = self._index.bits
        if ids is None:
            packed = np.asarray(self.snapshot().live()[1])
        else:
            packed = self.packed_of(ids)
        return unpack_codes(packed, bits) if packed.shape[0] else np.zeros((0, bits), np.uint8)

    def random_id(self, rng=None) -> int:
        """A uniformly drawn id (``rng``: numpy Generator or seed)."""
        snap = self.snapshot()
        if snap.count == 0:
            raise IndexStoreError(f"{self._index.path}: the index is empty")
        rng = np.random.default_rng(rng)
        if snap.tombstones.size * 2 < snap.ids.shape[0]:  # rejection: < 2 draws on average
            while True:
                candidate = int(snap.ids[rng.integers(snap.ids.shape[0])])
                if not snap.tombstones.size or not np.isin(candidate, snap.tombstones):
                    return candidate
        ids = snap.live()[0]
        return int(ids[rng.integers(ids.shape[0])])

    def ivf(self, snap: Snapshot, nlist: int | None = None, rebuild: bool = False, prefer_memory: bool = False):
        """The IVF back-end over the live items of ``snap`` (module doc), cheapest first:
        the previous in-memory one or the newest saved one brought up to date, else built.
        ``prefer_memory``: never memory-map (the caller will save it)."""
        index = self._index
        bits = index.bits
        engine = None
        if not rebuild and snap.stored:
            prev = self._ivf_prev
            if (
                prev is not None
                and not getattr(prev[0], "mmapped", False)
                and snap.log_from <= prev[1] <= snap.generation
            ):
                engine = self._catch_up(prev[0], prev[1], prev[2], snap)
            if engine is None:
                tag = saved.newest_usable(index.path, bits, snap.generation, snap.log_from)
                if tag is not None:
                    current = int(tag["generation"]) == snap.generation
                    engine = saved.load(index.path, tag, bits, nprobe=8, mmap=current and not prefer_memory)
                    if engine is not None and not current:
                        engine = self._catch_up(engine, int(tag["generation"]), int(tag["next_id"]), snap)
        if engine is None:
            engine = make_backend("ivf", bits, n=snap.count, **({"nlist": nlist} if nlist else {}))
            ids, packed = snap.live()
            engine.build(packed, ids)
        if not getattr(engine, "mmapped", False):
            self._ivf_prev = (engine, snap.generation, snap.next_id)
        return engine

    def _catch_up(self, engine, generation: int, next_id: int, snap: Snapshot):
        """Bring an IVF holding the live items of ``generation`` to ``snap`` (None when the
        removal log does not reach back that far)."""
        removed = self._index.removed_since(generation, snap.generation, next_id)
        if removed is None:
            return None
        engine.remove_items(removed)
        start = int(np.searchsorted(snap.ids, next_id))
        new_ids = np.asarray(snap.ids[start:])
        new_codes = np.asarray(snap.packed[start:])
        if snap.tombstones.size and new_ids.size:
            keep = ~np.isin(new_ids, snap.tombstones)
            new_ids, new_codes = new_ids[keep], new_codes[keep]
        if new_ids.size:
            engine.add_items(new_codes, new_ids)
        return engine

    def search(
        self,
        query_codes: np.ndarray,
        *,
        k: int | None,
        radius: int | None,
        backend: str,
        label_filter: list[str] | None,
    ) -> list[list[tuple[int, int]]]:
        """Nearest items by Hamming distance; the arguments of :meth:`CodeIndex.search`, all given."""
        bits = self._index.bits
        q = np.asarray(query_codes)
        if q.ndim == 1:
            q = q[None, :]
        q = check_bits(q, "query_codes")
        if q.shape[1] != bits:
            raise ConfigError(
                f"query codes have {q.shape[1]} bits, the index {self._index.path} stores {bits}-bit codes"
            )
        with self.lock:  # an IVF may be brought up to date in place: one user at a time
            cache = self._loaded()
            snap: Snapshot = cache["snapshot"]
            if label_filter:
                ids, packed = snap.live()
                keep = np.isin(ids, self._index.label_filter_ids(list(label_filter)))
                engine = make_backend(backend, bits, n=int(keep.sum())).build(
                    np.asarray(packed)[keep], np.asarray(ids)[keep]
                )
            else:
                name = canonical_backend(backend, snap.count)
                engine = cache["backends"].get(name)
                if engine is None:
                    if backend_spec(name).saved:  # kept up to date beside the index
                        engine = self.ivf(snap)
                    else:
                        ids, packed = snap.live()
                        engine = make_backend(name, bits, n=snap.count).build(packed, ids)
                    cache["backends"][name] = engine
            return engine.search(pack_codes(q), k=k, radius=radius)
