"""Persistent index of binary codes: ``CodeIndex``.

Layout (format 3): an index is a directory holding the SQLite database ``index.sqlite``
(plus SQLite's ``-wal``/``-shm`` while open) for the metadata, the two code files of
:mod:`mlrsir.index.codefile` (``codes.<f>.bin``: packed codes, ``ids.<f>.bin``: their item
ids, memory-mapped for reading) and optionally a saved search structure
(``ivf.<g>.faiss`` + ``ivf.<g>.json``, :mod:`mlrsir.index.saved`)::

    meta(key TEXT PRIMARY KEY, value TEXT)      -- JSON values, see below
    items(id INTEGER PRIMARY KEY, path TEXT UNIQUE, width INT, height INT,
          labels TEXT,                          -- JSON list of label names, or NULL
          geo TEXT)                             -- JSON of a scene tile, or NULL
    removed(id INTEGER PRIMARY KEY, generation INT)  -- removal log (tombstones)
    code_blocks(file, block, nbytes, sha256)    -- block checksums of the code files

``geo`` of a tile of a scene (see :mod:`mlrsir.index.scenes`): the :mod:`mlrsir.geo.georef`
dict plus ``"bands"`` (the band names read), with ``crs``, ``bounds`` and ``lonlat_bounds``
null for a raster without georeference; NULL for plain images.

Formats 1 and 2 (a BLOB column ``items.code``) are read as they are and migrated to format 3
by the first write (:mod:`mlrsir.index.migrate`). Side tables of derived data (predicted
labels, tile quality) are registered with :mod:`mlrsir.index.catalogue`; ``remove`` deletes
their rows of the removed items, ``compact`` drops rows left without an item, the deep
verification checks them.

Consistency of the database and the code files (crash safety). The metadata keys
``code_file`` (the file generation ``f`` in the file names) and ``code_slots`` (records
committed in them) say which bytes are the index; nothing else is trusted.

* ``add``: rows inserted (a duplicate path aborts here, files untouched), then the new
  records appended to both files in place and fsynced, then one SQLite commit of the rows,
  the new ``code_slots`` and the changed block checksums. A crash before the commit leaves
  a tail beyond ``code_slots`` that readers ignore and the next write cuts off.
* ``compact``/migration: complete new files ``codes.<g>.bin``/``ids.<g>.bin`` (``g`` = the
  generation the commit will have) are written, fsynced and renamed into place before the
  commit that points ``code_file`` to them; the old pair is deleted after the commit (a
  crash in between leaves an unreferenced pair, deleted by the next write).

So an index always opens as the state before or after a write, never a mix, and nothing
committed is lost (tested by simulated crashes between the file write and the commit).

Removal: ``remove`` deletes the rows and logs the ids in ``removed`` with the generation of
the removal; their code records stay in the files as *tombstones* (slots whose id is in the
log after ``compacted_generation``), excluded from every search, ``ids()`` and ``codes()``
at once. :meth:`CodeIndex.compact` (``mlrsir index compact``, and automatically after a
``remove`` once tombstones exceed :attr:`CodeIndex.COMPACT_FRACTION` of the slots and
:attr:`CodeIndex.COMPACT_MIN` items) rewrites the files without them. The log is kept
back to the newest saved search structure (``removed_log_from``) so that structure can be
brought up to date (:mod:`mlrsir.index.saved`), and pruned at compaction otherwise.

Metadata (``meta``): ``format`` ("mlrsir-code-index"), ``format_version`` (3; 1 and 2 are
read), ``bits``, ``fingerprint`` (the model's, see :mod:`mlrsir.inference.fingerprint`),
``run_dir``, ``classes``, ``images_root``, ``created``, ``radiometry`` (the
:class:`mlrsir.geo.radiometry.Radiometry` dict used for every raster tile, set once by
:meth:`CodeIndex.set_radiometry`, or null), ``header_sha256`` (checksum of those static
keys), ``count`` (live items), ``next_id`` (ids are never reused), ``items_checksum`` (see
:mod:`mlrsir.index.integrity`), ``generation`` (incremented by every write; readers reload
their view when it changes), ``code_file``, ``code_slots``, ``compacted_generation`` and
``removed_log_from`` (see above).

Integrity: every open checks the SQLite header and file size (truncation), the format
version, the header checksum, the code files' headers and sizes against ``code_slots``
and the live count against the tombstones (a few hundred bytes read, whatever the size).
The full verification (``verify=True``; by default, ``verify="auto"``, only up to
:data:`VERIFY_ON_OPEN_MAX_ITEMS` items, as it reads everything) adds ``PRAGMA
integrity_check``, the sha256 of every 1 MiB block of the code files (a flipped byte is
reported with the file and the block) and the item checksum over every row joined with its
code. ``mlrsir index info --verify`` runs it on demand. A writable open always runs
``PRAGMA integrity_check`` (writing through a damaged path index would store duplicates).

Bulk insert: ``add`` inserts a batch with one ``executemany`` in one transaction and the
code files grow by one append (the per-row digest is the only per-row Python work).

Paths are stored as given by the caller; the CLI stores absolute resolved paths (so the
web app can serve them) and records the build's image folder in ``images_root``.

The SQLite side (connection, transactions, item reads, side tables) is a
:class:`~mlrsir.index.catalogue.Catalogue` (:attr:`CodeIndex.catalogue`).

Search: :meth:`CodeIndex.search`, :meth:`~CodeIndex.codes`, :meth:`~CodeIndex.ids` and
:meth:`~CodeIndex.random_id` delegate to a :class:`~mlrsir.index.searcher.CodeSearcher`
(the mapped codes, the back-ends, the saved IVF and the label filter); this module holds
the schema, reads, writes and transactions, :mod:`mlrsir.index.integrity` the checks.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np

from mlrsir.codes import check_bits, pack_codes
from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index import codefile, integrity, predicted, saved, tile_quality
from mlrsir.index.backends import packed_width
from mlrsir.index.catalogue import DB_NAME, Catalogue, canonical, connect, tombstone_ids, write_header
from mlrsir.index.creation import static_meta, write_empty_index
from mlrsir.index.migrate import migrate_to_v3, read_codes_v2
from mlrsir.index.searcher import CodeSearcher, Snapshot
from mlrsir.index.summary import summarize
from mlrsir.index.tombstones import compact_files, delete_items
from mlrsir.index.transactions import WriteTransaction, insert_items, record_rows
from mlrsir.index.verification import check_index
from mlrsir.inference.fingerprint import check_fingerprint

__all__ = ["DB_NAME", "VERIFY_ON_OPEN_MAX_ITEMS", "CodeIndex"]

VERIFY_ON_OPEN_MAX_ITEMS = 100_000
"""``verify="auto"`` runs the full verification on open up to this many items (~0.5 s)."""

_SIDE_TABLE_MODULES = (predicted, tile_quality)  # imported for their side-table registration


class CodeIndex:
    """A persistent, searchable set of binary codes with image metadata (see module doc).

    Use :meth:`create` or :meth:`open`; not the constructor.
    """

    COMPACT_FRACTION = 0.25
    """``remove`` compacts once tombstones exceed this share of the code slots ..."""
    COMPACT_MIN = 10_000
    """... and this many items."""

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool):
        self.path = Path(path)
        self.db_path = self.path / DB_NAME
        self.readonly = readonly
        self._catalogue = Catalogue(conn, self.db_path)
        self._conn = conn
        self._lock = self._catalogue.lock
        meta = self._read_meta()
        self.bits: int = int(meta["bits"])
        self.fingerprint: dict = meta["fingerprint"]
        self.run_dir: str | None = meta["run_dir"]
        self.classes: list[str] | None = meta["classes"]
        self.images_root: str | None = meta.get("images_root")
        self.format_version: int = int(meta["format_version"])
        self.radiometry: dict | None = meta.get("radiometry")
        self._searcher = CodeSearcher(self, lock=self._lock)

    @property
    def code_width(self) -> int:
        """Bytes of one packed code."""
        return packed_width(self.bits)

    # ------------------------------------------------------------------ create/open
    @classmethod
    def create(
        cls,
        path,
        *,
        bits: int,
        fingerprint: dict,
        run_dir: str | None,
        classes: list[str] | None,
        images_root: str | None = None,
        radiometry: dict | None = None,
        overwrite: bool = False,
    ) -> CodeIndex:
        """Create an empty index in directory ``path`` and open it for writing
        (:func:`mlrsir.index.creation.write_empty_index`: crash-safe; refuses a folder holding
        an index unless ``overwrite``, and any non-empty folder holding none)."""
        static = static_meta(bits, fingerprint, run_dir, classes, images_root, radiometry)
        return cls.open(write_empty_index(path, static, overwrite=overwrite), verify=False)

    @classmethod
    def open(
        cls,
        path,
        *,
        expected_fingerprint: dict | None = None,
        readonly: bool = False,
        verify: bool | str = "auto",
        deep: bool = False,
    ) -> CodeIndex:
        """Open an existing index.

        Args:
            path: the index directory (or its ``index.sqlite``).
            expected_fingerprint: when given, refuse an index made by another model.
            readonly: open the database read-only (``add``/``remove`` then fail).
            verify: ``True``: full verification (``PRAGMA integrity_check``, block
                checksums of the code files, item checksum over every row); ``False``:
                the cheap checks only; ``"auto"`` (default): full up to
                :data:`VERIFY_ON_OPEN_MAX_ITEMS` items, cheap above (``mlrsir serve`` of a
                large index starts in seconds; ``mlrsir index info --verify`` checks it all).
            deep: also compare the unique path index with the table entry by entry
                (``mlrsir index info --verify``; implies ``verify``).

        Opening for writing always runs ``PRAGMA integrity_check`` (even with
        ``verify=False``): writing through a damaged path index would store duplicates
        or change the wrong row.

        Raises:
            IndexStoreError: missing/corrupt/truncated file, other format version, checksum
                mismatch, or fingerprint mismatch (message names the file).
        """
        path = Path(path)
        if path.name == DB_NAME and path.is_file():
            path = path.parent
        db = path / DB_NAME
        if not path.is_dir() or not db.exists():
            raise IndexStoreError(f"{path}: no index here ({DB_NAME} not found); build one with `mlrsir index build`")
        integrity.check_sqlite_file(db)
        try:
            conn = connect(db, readonly)
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{db}: cannot open as SQLite ({exc})") from None
        try:
            index = cls(path, conn, readonly)
            if verify == "auto":
                verify = len(index) <= VERIFY_ON_OPEN_MAX_ITEMS
            index._check(bool(verify) or deep, deep=deep)
            if not readonly and not (verify or deep):
                integrity.check_structure(conn, db)
            if expected_fingerprint is not None:
                check_fingerprint(index.fingerprint, expected_fingerprint, where=db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexStoreError(f"{db}: corrupt index database ({exc})") from None
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:  # a stored value of an unusable form
            conn.close()
            raise integrity.corrupt_meta(db, f"{type(exc).__name__}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return index

    # ------------------------------------------------------------------ integrity
    def _read_meta(self) -> dict:
        return integrity.read_meta(self._conn, self.db_path)

    def _check(self, verify: bool, deep: bool = False) -> None:
        check_index(self._catalogue, self.path, self.bits, verify, deep=deep)

    def verify(self) -> None:
        """Full check (integrity_check, code file blocks, item checksum, path index against
        the table); raises IndexStoreError on any problem."""
        self._check(verify=True, deep=True)

    # ------------------------------------------------------------------ writes
    def _write(self) -> WriteTransaction:
        """Migrate an old format and start a write (:class:`~mlrsir.index.transactions.WriteTransaction`)."""
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only")
        self.migrate()
        return WriteTransaction(self._catalogue, self.path, on_commit=self._searcher.invalidate)

    def add(self, records: list[dict], codes: np.ndarray) -> list[int]:
        """Add items atomically (all or none).

        Args:
            records: one dict per item: ``path`` (str, unique in the index), ``width``,
                ``height`` (int pixels), ``labels`` (list[str] or None), optional ``geo``
                (dict, see the module doc).
            codes: ``(n, bits)`` uint8 in {0, 1}.

        Returns:
            The new ids (consecutive, never used before).
        """
        codes = check_bits(codes, "codes")
        if codes.shape != (len(records), self.bits):
            raise ConfigError(f"codes of shape {codes.shape} for {len(records)} records of {self.bits}-bit codes")
        return self.add_packed(records, pack_codes(codes))

    def add_packed(self, records: list[dict], packed: np.ndarray) -> list[int]:
        """:meth:`add` with codes already packed: ``(n, ceil(bits/8))`` uint8 as
        :func:`mlrsir.codes.pack_codes` makes them (padding bits zero)."""
        packed = np.ascontiguousarray(packed, dtype=np.uint8)
        width = self.code_width
        if packed.shape != (len(records), width):
            raise ConfigError(f"packed codes of shape {packed.shape} for {len(records)} records of {width} bytes")
        if self.bits % 8 and packed.size and (packed[:, -1] & ((1 << (8 - self.bits % 8)) - 1)).any():
            raise ConfigError(f"packed {self.bits}-bit codes with non-zero padding bits")
        rows = record_rows(records)
        if not rows:
            return []
        with self._lock, self._write() as tx:
            return insert_items(tx, rows, packed, width)

    def remove(self, ids: list[int]) -> int:
        """Remove items by id atomically; unknown ids are ignored. Returns how many were removed.

        The rows go at once and their codes become tombstones (excluded from every search);
        the code files are compacted when tombstones exceed :attr:`COMPACT_FRACTION` of the
        slots and :attr:`COMPACT_MIN` items (module doc).
        """
        wanted = sorted({int(i) for i in ids})
        with self._lock:
            with self._write() as tx:
                removed = delete_items(tx, wanted, self.code_width)
            if removed:
                state = tx.state
                tombstones = int(state["code_slots"]) - int(state["count"])
                if tombstones >= max(self.COMPACT_MIN, self.COMPACT_FRACTION * int(state["code_slots"])):
                    self.compact()
        return removed

    def compact(self) -> dict:
        """Rewrite the code files without the removed items (migrates a format 1/2 index).

        New files for the next generation are written and renamed into place, then one
        commit points the index to them and empties the tombstones (module doc); a saved
        search structure stays usable (the removal log is kept back to it). Returns
        ``{"slots_before", "slots_after", "seconds"}``.
        """
        t0 = time.perf_counter()
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only")
        with self._lock, self._write() as tx:
            result = compact_files(tx, self.code_width, self.bits)
        return {**result, "seconds": time.perf_counter() - t0}

    # ------------------------------------------------------------------ reads
    def __len__(self) -> int:
        with self._lock:
            return integrity.read_meta_int(self._conn, self.db_path, "count")

    @property
    def catalogue(self) -> Catalogue:
        """The SQLite side (:class:`~mlrsir.index.catalogue.Catalogue`): transactions, queries,
        item reads and side tables, for the modules that keep data beside the items."""
        return self._catalogue

    def get(self, item_id: int) -> dict:
        """``{id, path, width, height, labels}`` plus ``geo`` (the stored dict) for scene
        tiles; KeyError for an unknown id."""
        return self._catalogue.get(item_id)

    def get_many(self, item_ids) -> dict[int, dict]:
        """``{id: record}`` (as :meth:`get`) of the ids that exist, in one query per 500 ids
        (unknown ids are left out; used to build search results without a query per hit)."""
        return self._catalogue.get_many(item_ids)

    def geo_items(self) -> list[tuple[int, dict]]:
        """``[(id, stored geo dict)]`` of every item with a ``geo`` (id order)."""
        return self._catalogue.geo_items()

    def label_counts(self) -> dict[str, int]:
        """``{label: number of items carrying it}`` in one SQL pass (no row reaches Python)."""
        return self._catalogue.label_counts()

    def ids_for_paths(self, paths: list[str]) -> dict[str, int]:
        """``{path: id}`` for the given paths that are in the index."""
        return self._catalogue.ids_for_paths(paths)

    def ids_with_labels(self, labels: list[str]) -> np.ndarray:
        """Ids of the items whose ground-truth labels contain all ``labels`` (ascending)."""
        return self._catalogue.ids_with_labels(labels)

    def label_filter_ids(self, labels: list[str]) -> np.ndarray:
        """Ids passing the search's label filter (:func:`mlrsir.index.predicted.label_filter_ids`:
        ground truth, else predicted labels)."""
        return predicted.label_filter_ids(self, labels)[0]

    def iter_items(self, chunk: int = 2000):
        """Every item as ``{id, path, width, height, labels, geo, code}`` (packed code bytes), id order."""
        last = 0
        width = self.code_width
        while True:
            with self._lock:
                if self.format_version >= 3:
                    fetched = self._conn.execute(
                        "SELECT id, path, width, height, labels, geo FROM items WHERE id > ? ORDER BY id LIMIT ?",
                        (last, chunk),
                    ).fetchall()
                    if not fetched:
                        return
                    snap = self._searcher.snapshot()
                    pos, found = snap.lookup([r[0] for r in fetched])
                    if not found.all():  # a write since the snapshot: take a new one
                        self._searcher.invalidate()
                        snap = self._searcher.snapshot()
                        pos, found = snap.lookup([r[0] for r in fetched])
                    blob = np.asarray(snap.packed[pos[found]]).tobytes()
                    kept = [r for r, ok in zip(fetched, found) if ok]  # rows removed meanwhile are left out
                    rows = [(*r, blob[i * width : (i + 1) * width]) for i, r in enumerate(kept)]
                else:
                    fetched = rows = self._conn.execute(
                        f"SELECT id, path, width, height, labels, {self._catalogue.geo_col}, code FROM items "
                        "WHERE id > ? ORDER BY id LIMIT ?",
                        (last, chunk),
                    ).fetchall()
                    if not fetched:
                        return
            for row in rows:
                out = Catalogue.row_dict(row[:6])
                out["code"] = bytes(row[6])
                yield out
            last = fetched[-1][0]

    # ------------------------------------------------------------------ formats
    def migrate(self) -> None:
        """Migrate a format 1 or 2 index to format 3 in place (no-op for format 3); see
        :func:`mlrsir.index.migrate.migrate_to_v3`."""
        if self.format_version >= 3:
            return
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only; cannot migrate it to format 3")
        with self._lock:
            self._after_format_change(migrate_to_v3(self._catalogue, self.path, self.bits))

    def _after_format_change(self, version: int) -> None:
        self.format_version = int(version)
        self._catalogue.refresh_columns()
        self._searcher.invalidate()

    def set_radiometry(self, radiometry: dict) -> dict:
        """Store the index's raster radiometry once; returns the stored rule.

        Raises IndexStoreError when a different rule is already stored (a rule is fixed per
        index so that tiles added later and queries map values the same way).
        """
        wanted = canonical(dict(radiometry))
        if self.radiometry is not None:
            if self.radiometry != wanted:
                raise IndexStoreError(
                    f"{self.db_path}: the index's radiometry is fixed to {self.radiometry}, not {wanted}; "
                    "index this scene into another index"
                )
            return self.radiometry
        self.migrate()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                meta = self._read_meta()
                if meta.get("radiometry") not in (None, wanted):
                    raise IndexStoreError(f"{self.db_path}: the index's radiometry was set concurrently")
                meta["radiometry"] = wanted
                write_header(self._conn, meta)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self.radiometry = wanted
        return wanted

    @property
    def generation(self) -> int:
        """The committed generation (incremented by every write, by any process)."""
        return self._catalogue.meta_int("generation")

    def snapshot(self) -> Snapshot:
        """One consistent view of the stored codes (see :class:`~mlrsir.index.searcher.Snapshot`)."""
        for attempt in range(5):
            with self._lock:
                self._conn.execute("BEGIN")
                try:
                    meta = self._read_meta()
                    version = int(meta["format_version"])
                    if version != self.format_version:  # migrated by another process
                        self._after_format_change(version)
                    if version < 3:
                        generation, ids, packed = read_codes_v2(self._conn, self.db_path, self.bits)
                        return Snapshot(generation, int(meta["next_id"]), ids, packed, np.zeros(0, np.int64))
                    tombstones = tombstone_ids(self._conn, meta)
                    try:
                        ids, packed = codefile.open_committed(self.path, meta, self.code_width)
                    except IndexStoreError:
                        # compacted meanwhile (the old files are gone): read the new state
                        if attempt < 4 and self._catalogue.peek_int("code_file") != int(meta["code_file"]):
                            continue
                        raise
                finally:
                    self._conn.execute("COMMIT")
            return Snapshot(
                int(meta["generation"]),
                int(meta["next_id"]),
                ids,
                packed,
                tombstones,
                stored=True,
                log_from=int(meta["removed_log_from"]),
            )
        raise IndexStoreError(f"{self.db_path}: the code files kept changing while being opened")

    def removed_since(self, generation: int, upto: int, below_id: int) -> np.ndarray | None:
        """Ids removed after ``generation`` (up to ``upto``) that are below ``below_id``;
        None when the removal log no longer reaches back to ``generation``."""
        return self._catalogue.removed_since(generation, upto, below_id)

    # ------------------------------------------------------------------ search (CodeSearcher)
    def ids(self) -> np.ndarray:
        """All ids, ``(N,) int64`` ascending."""
        return self._searcher.ids()

    def codes(self, ids=None) -> np.ndarray:
        """Unpacked codes ``(n, bits) uint8`` in {0,1}, of all items (id order) or of ``ids``."""
        return self._searcher.codes(ids)

    def random_id(self, rng=None) -> int:
        """A uniformly drawn id (``rng``: numpy Generator or seed)."""
        return self._searcher.random_id(rng)

    def cached_backend(self, name: str):
        """The search back-end ``name`` the last searches used, None when none is built (benchmarks)."""
        return self._searcher.cached_backend(name)

    def search(
        self,
        query_codes: np.ndarray,
        k: int | None = 20,
        radius: int | None = None,
        backend: str = "auto",
        label_filter: list[str] | None = None,
    ) -> list[list[tuple[int, int]]]:
        """Nearest items by Hamming distance (see :mod:`mlrsir.index.searcher`).

        Args:
            query_codes: ``(Q, bits)`` uint8 in {0,1} (a single ``(bits,)`` code is accepted).
            k: at most ``k`` results per query; None = no cap (all items, or all within
                ``radius``).
            radius: only items with distance ``<= radius``.
            backend: ``auto`` or a name in :mod:`mlrsir.index.backend_registry` (``faiss``,
                ``faiss-unpadded``, ``numpy``, ``mih``/``hash``, ``ivf``, ``hnsw``, ...).
            label_filter: keep items carrying all these labels.

        Returns:
            Per query ``[(id, distance)]`` sorted by ``(distance, id)``.
        """
        return self._searcher.search(query_codes, k=k, radius=radius, backend=backend, label_filter=label_filter)

    def save_search_structure(
        self, *, nlist: int | None = None, rebuild: bool = False, min_items: int = 0
    ) -> dict | None:
        """Save the IVF back-end over the current items beside the index
        (:mod:`mlrsir.index.saved`) so that readers load it instead of building it.

        Brings the newest saved one up to date when there is one (unless ``rebuild``), else
        builds it (``nlist`` cells, default ~sqrt(n)). Skipped (None) for a format 1/2
        index, and when the index has fewer than ``min_items`` items and nothing is saved
        yet. Returns the tag written.
        """
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only")
        if self.format_version < 3:
            return None
        with self._lock:
            snap = self._searcher.snapshot()
            newest = saved.newest_usable(self.path, self.bits, snap.generation, snap.log_from)
            if newest is None and snap.count < int(min_items):
                return None
            if newest is not None and int(newest["generation"]) == snap.generation and not rebuild:
                if saved.check_file(self.path, newest) is not None:
                    return newest
            engine = self._searcher.ivf(snap, nlist=nlist, rebuild=rebuild, prefer_memory=True)
            return saved.save(self.path, engine, snap.generation, snap.next_id)

    def info(self) -> dict:
        """JSON-able summary (:func:`mlrsir.index.summary.summarize`): path, format, bits, fingerprint,
        run_dir, classes, count, sizes, side tables."""
        return summarize(self)

    def close(self) -> None:
        with self._lock:
            self._catalogue.close()
            self._conn = None  # type: ignore[assignment]
            self._searcher.clear()

    def __enter__(self) -> CodeIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
