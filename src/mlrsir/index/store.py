"""Persistent index of binary codes: ``CodeIndex``.

Layout: an index is a directory holding one SQLite database, ``index.sqlite`` (plus
SQLite's own ``-wal``/``-shm`` files while it is open)::

    meta(key TEXT PRIMARY KEY, value TEXT)      -- JSON values, see META_KEYS below
    items(id INTEGER PRIMARY KEY, path TEXT UNIQUE, width INT, height INT,
          labels TEXT,                          -- JSON list of label names, or NULL
          code BLOB,                            -- packed code, ceil(bits/8) bytes (pack_codes)
          geo TEXT)                             -- format 2: JSON of a scene tile, or NULL

``geo`` (format 2) of a tile of a scene (see :mod:`mlrsir.index.scenes`): the
:mod:`mlrsir.geo.georef` dict plus ``"bands"`` (the band names read), with ``crs``,
``bounds`` and ``lonlat_bounds`` null for a raster without georeference; NULL for plain
images. Format 1 indexes (no ``geo`` column) are read as they are and migrated to
format 2 on the first write that stores a ``geo`` or the radiometry
(:func:`mlrsir.index.integrity` docstring).

Why the codes live in the database (one BLOB per item) rather than in a separate
``.npy``: a single SQLite transaction then commits codes and metadata together, so an
``add``/``remove`` is atomic and durable without a second file, a generation number and
a tmp+fsync+rename dance, and a crash can never leave codes and rows disagreeing. WAL
mode (``journal_mode=WAL``, ``synchronous=FULL``) lets any number of readers (other
processes, the web server) read a consistent snapshot while one writer appends. Loading
10^6 codes back into a contiguous array is one sequential ``SELECT`` (~1 s).

Metadata (``meta``): ``format`` ("mlrsir-code-index"), ``format_version`` (2; 1 is
still read), ``bits``, ``fingerprint`` (the model's, see :mod:`mlrsir.inference.fingerprint`),
``run_dir``, ``classes``, ``images_root``, ``created``, ``radiometry`` (format 2: the
:class:`mlrsir.geo.radiometry.Radiometry` dict used for every raster tile of the index,
set once by :meth:`CodeIndex.set_radiometry`, or null), ``header_sha256`` (checksum of the
static keys), ``count``, ``next_id`` (ids are never reused), ``items_checksum`` (see
:mod:`mlrsir.index.integrity`) and ``generation`` (incremented by every write; readers
reload their in-memory arrays when it changes).

Integrity: every open checks the SQLite header and file size (truncation), the format
version, the header checksum and the row count. ``verify=True`` (default) also
recomputes the item checksum over every row and runs ``PRAGMA integrity_check`` (~0.7 s per
10^5 items); a flipped byte in a code, a path or a label, or a damaged page, raises
:class:`~mlrsir.errors.IndexStoreError` naming the database file.

Paths are stored as given by the caller; the CLI stores absolute resolved paths (so the
web app can serve them) and records the build's image folder in ``images_root``.

Search: :meth:`CodeIndex.search`, :meth:`~CodeIndex.codes`, :meth:`~CodeIndex.ids` and
:meth:`~CodeIndex.random_id` delegate to a :class:`~mlrsir.index.searcher.CodeSearcher`
(the cached in-memory code matrix, the back-ends and the label filter); this module holds
the schema, reads, writes and transactions, :mod:`mlrsir.index.integrity` the checks.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from mlrsir.codes import check_bits, check_code_length, pack_codes
from mlrsir.data.labels import normalize_class_name
from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index import integrity
from mlrsir.index.backends import packed_width
from mlrsir.index.integrity import FORMAT, FORMAT_VERSION
from mlrsir.index.searcher import CodeSearcher
from mlrsir.inference.fingerprint import check_fingerprint
from mlrsir.io_atomic import atomic_path

DB_NAME = "index.sqlite"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    labels TEXT,
    code BLOB NOT NULL,
    geo TEXT
);
"""


def _canonical(value):
    """JSON round trip, so tuples/lists and int/str keys compare like stored values."""
    return json.loads(json.dumps(value, sort_keys=True))


class CodeIndex:
    """A persistent, searchable set of binary codes with image metadata (see module doc).

    Use :meth:`create` or :meth:`open`; not the constructor.
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, readonly: bool):
        self.path = Path(path)
        self.db_path = self.path / DB_NAME
        self.readonly = readonly
        self._conn = conn
        self._lock = threading.RLock()
        meta = self._read_meta()
        self.bits: int = int(meta["bits"])
        self.fingerprint: dict = meta["fingerprint"]
        self.run_dir: str | None = meta["run_dir"]
        self.classes: list[str] | None = meta["classes"]
        self.images_root: str | None = meta.get("images_root")
        self.format_version: int = int(meta["format_version"])
        self.radiometry: dict | None = meta.get("radiometry")
        self._geo_col = "geo" if integrity.has_geo_column(conn) else "NULL"
        self._searcher = CodeSearcher(self)

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
        """Create an empty index in directory ``path`` and open it for writing.

        The database is written to a temporary file, fsynced and renamed into place, so a
        crash never leaves a half-created index. Refuses a directory that already holds
        an index unless ``overwrite`` (do not overwrite an index other processes have open).
        """
        path = Path(path)
        bits = check_code_length(int(bits))
        if path.exists() and not path.is_dir():
            raise IndexStoreError(f"{path}: exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        db = path / DB_NAME
        if db.exists():
            if not overwrite:
                raise IndexStoreError(
                    f"{path}: an index already exists here (use overwrite / --overwrite to replace it)"
                )
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        static = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bits": bits,
            "fingerprint": _canonical(dict(fingerprint or {})),
            "run_dir": None if run_dir is None else str(run_dir),
            "classes": None if classes is None else [str(c) for c in classes],
            "images_root": None if images_root is None else str(images_root),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "radiometry": None if radiometry is None else _canonical(dict(radiometry)),
        }
        meta = dict(static)
        meta.update(
            header_sha256=integrity.header_digest(static),
            count=0,
            next_id=1,
            items_checksum=integrity.to_hex(0),
            generation=0,
        )
        with atomic_path(db) as tmp:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.executescript(_SCHEMA)
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
        return cls.open(path, verify=False)

    @classmethod
    def open(
        cls,
        path,
        *,
        expected_fingerprint: dict | None = None,
        readonly: bool = False,
        verify: bool = True,
        deep: bool = False,
    ) -> CodeIndex:
        """Open an existing index.

        Args:
            path: the index directory (or its ``index.sqlite``).
            expected_fingerprint: when given, refuse an index made by another model.
            readonly: open the database read-only (``add``/``remove`` then fail).
            verify: recompute the item checksum and run ``PRAGMA integrity_check``.
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
            if readonly:
                conn = sqlite3.connect(
                    db.resolve().as_uri() + "?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=30,
                )
            else:
                conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            raise IndexStoreError(f"{db}: cannot open as SQLite ({exc})") from None
        try:
            index = cls(path, conn, readonly)
            index._check(verify or deep, deep=deep)
            if not readonly and not (verify or deep):
                integrity.check_structure(conn, db)
            if expected_fingerprint is not None:
                check_fingerprint(index.fingerprint, expected_fingerprint, where=db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexStoreError(f"{db}: corrupt index database ({exc})") from None
        except BaseException:
            conn.close()
            raise
        return index

    # ------------------------------------------------------------------ integrity
    def _read_meta(self) -> dict:
        return integrity.read_meta(self._conn, self.db_path)

    def _check(self, verify: bool, deep: bool = False) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                meta = self._read_meta()
                integrity.check_items(self._conn, self.db_path, meta, self.bits, full=verify)
                if deep:
                    integrity.compare_path_index(self._conn, self.db_path)
            finally:
                self._conn.execute("COMMIT")

    def verify(self) -> None:
        """Full check (checksum, integrity_check, path index against the table); raises
        IndexStoreError on any problem."""
        self._check(verify=True, deep=True)

    # ------------------------------------------------------------------ writes
    def _begin_write(self) -> dict:
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only")
        self._conn.execute("BEGIN IMMEDIATE")
        return {
            k: json.loads(v)
            for k, v in self._conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('count', 'next_id', 'items_checksum', 'generation')"
            )
        }

    def _commit_write(self, state: dict) -> None:
        state["generation"] += 1
        self._conn.executemany(
            "UPDATE meta SET value = ? WHERE key = ?", [(json.dumps(v), k) for k, v in state.items()]
        )
        self._conn.execute("COMMIT")
        self._searcher.invalidate()

    def add(self, records: list[dict], codes: np.ndarray) -> list[int]:
        """Add items atomically (all or none).

        Args:
            records: one dict per item: ``path`` (str, unique in the index), ``width``,
                ``height`` (int pixels), ``labels`` (list[str] or None), optional ``geo``
                (dict, see the module doc; migrates a format 1 index).
            codes: ``(n, bits)`` uint8 in {0, 1}.

        Returns:
            The new ids (consecutive, never used before).
        """
        codes = check_bits(codes, "codes")
        if codes.shape != (len(records), self.bits):
            raise ConfigError(f"codes of shape {codes.shape} for {len(records)} records of {self.bits}-bit codes")
        rows = []
        for record in records:
            path = record.get("path")
            if not isinstance(path, str) or not path:
                raise ConfigError(f"record without a path: {record!r}")
            labels = record.get("labels")
            labels_json = None if labels is None else json.dumps([str(x) for x in labels])
            geo = record.get("geo")
            geo_json = None if geo is None else json.dumps(_canonical(geo), sort_keys=True)
            rows.append((path, int(record.get("width") or 0), int(record.get("height") or 0), labels_json, geo_json))
        packed = pack_codes(codes)
        if any(r[4] is not None for r in rows):
            self.migrate()
        with self._lock:
            state = self._begin_write()
            try:
                first = int(state["next_id"])
                total = integrity.from_hex(state["items_checksum"])
                for i, (path, width, height, labels_json, geo_json) in enumerate(rows):
                    item_id, code = first + i, packed[i].tobytes()
                    if self._geo_col == "geo":
                        self._conn.execute(
                            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (item_id, path, width, height, labels_json, code, geo_json),
                        )
                    else:  # format 1 index, rows without geo
                        self._conn.execute(
                            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)",
                            (item_id, path, width, height, labels_json, code),
                        )
                    digest = integrity.row_digest(item_id, path, width, height, labels_json, code, geo_json)
                    total = integrity.combine(total, digest)
                state.update(
                    count=state["count"] + len(rows), next_id=first + len(rows), items_checksum=integrity.to_hex(total)
                )
                self._commit_write(state)
            except sqlite3.IntegrityError as exc:
                self._conn.execute("ROLLBACK")
                raise IndexStoreError(
                    f"{self.db_path}: cannot add items ({exc}; a path is already in the index?)"
                ) from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return list(range(first, first + len(rows)))

    def remove(self, ids: list[int]) -> int:
        """Remove items by id atomically; unknown ids are ignored. Returns how many were removed."""
        wanted = sorted({int(i) for i in ids})
        with self._lock:
            state = self._begin_write()
            try:
                total = integrity.from_hex(state["items_checksum"])
                removed = 0
                for start in range(0, len(wanted), 500):
                    part = wanted[start : start + 500]
                    marks = ",".join("?" * len(part))
                    rows = self._conn.execute(
                        f"SELECT id, path, width, height, labels, code, {self._geo_col} FROM items "
                        f"WHERE id IN ({marks})",
                        part,
                    ).fetchall()
                    for row in rows:
                        total = integrity.combine(total, integrity.row_digest(*row), sign=-1)
                    self._conn.execute(f"DELETE FROM items WHERE id IN ({marks})", part)
                    removed += len(rows)
                state.update(count=state["count"] - removed, items_checksum=integrity.to_hex(total))
                self._commit_write(state)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return removed

    # ------------------------------------------------------------------ reads
    def __len__(self) -> int:
        with self._lock:
            return int(json.loads(self._conn.execute("SELECT value FROM meta WHERE key = 'count'").fetchone()[0]))

    @staticmethod
    def _row_dict(row) -> dict:
        out = {
            "id": int(row[0]),
            "path": row[1],
            "width": int(row[2]),
            "height": int(row[3]),
            "labels": None if row[4] is None else json.loads(row[4]),
        }
        if len(row) > 5 and row[5] is not None:
            out["geo"] = json.loads(row[5])
        return out

    def get(self, item_id: int) -> dict:
        """``{id, path, width, height, labels}`` plus ``geo`` (the stored dict) for scene
        tiles; KeyError for an unknown id."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT id, path, width, height, labels, {self._geo_col} FROM items WHERE id = ?", (int(item_id),)
            ).fetchone()
        if row is None:
            raise KeyError(item_id)
        return self._row_dict(row)

    def get_many(self, item_ids) -> dict[int, dict]:
        """``{id: record}`` (as :meth:`get`) of the ids that exist, in one query per 500 ids
        (unknown ids are left out; used to build search results without a query per hit)."""
        ids = [int(i) for i in item_ids]
        out: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT id, path, width, height, labels, {self._geo_col} FROM items WHERE id IN ({marks})", part
                ).fetchall()
            out.update((int(row[0]), self._row_dict(row)) for row in rows)
        return out

    def geo_items(self) -> list[tuple[int, dict]]:
        """``[(id, stored geo dict)]`` of every item with a ``geo`` (id order)."""
        if self._geo_col != "geo":
            return []
        with self._lock:
            rows = self._conn.execute("SELECT id, geo FROM items WHERE geo IS NOT NULL ORDER BY id").fetchall()
        return [(int(i), json.loads(g)) for i, g in rows]

    def iter_items(self, chunk: int = 2000):
        """Every item as ``{id, path, width, height, labels, geo, code}`` (packed code bytes), id order."""
        last = 0
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT id, path, width, height, labels, {self._geo_col}, code FROM items "
                    "WHERE id > ? ORDER BY id LIMIT ?",
                    (last, chunk),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                out = self._row_dict(row[:6])
                out["code"] = bytes(row[6])
                yield out
            last = rows[-1][0]

    # ------------------------------------------------------------------ format 2
    def migrate(self) -> None:
        """Migrate a format 1 index to format 2 in place (``geo`` column, ``radiometry`` key).

        One transaction: the column is added, ``format_version`` set to 2 and the header
        checksum recomputed over the version 2 keys; the item checksum is unchanged (rows
        without geo digest the same). No-op for a format 2 index.
        """
        if self._geo_col == "geo" and self.format_version >= 2:
            return
        if self.readonly:
            raise IndexStoreError(f"{self.db_path}: index opened read-only; cannot migrate it to format 2")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                meta = self._read_meta()
                if not integrity.has_geo_column(self._conn):
                    self._conn.execute("ALTER TABLE items ADD COLUMN geo TEXT")
                meta["format_version"] = FORMAT_VERSION
                meta.setdefault("radiometry", None)
                self._write_header(meta)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self._geo_col = "geo"
        self.format_version = FORMAT_VERSION

    def _write_header(self, meta: dict) -> None:
        """Write the static keys of ``meta`` and their checksum (inside a write transaction)."""
        static = {key: meta.get(key) for key in integrity.static_keys(meta["format_version"])}
        static["header_sha256"] = integrity.header_digest(static)
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in static.items()]
        )

    def set_radiometry(self, radiometry: dict) -> dict:
        """Store the index's raster radiometry once; returns the stored rule.

        Raises IndexStoreError when a different rule is already stored (a rule is fixed per
        index so that tiles added later and queries map values the same way).
        """
        wanted = _canonical(dict(radiometry))
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
                self._write_header(meta)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        self.radiometry = wanted
        return wanted

    def ids_for_paths(self, paths: list[str]) -> dict[str, int]:
        """``{path: id}`` for the given paths that are in the index."""
        out: dict[str, int] = {}
        paths = list(paths)
        with self._lock:
            for start in range(0, len(paths), 500):
                part = paths[start : start + 500]
                marks = ",".join("?" * len(part))
                out.update(self._conn.execute(f"SELECT path, id FROM items WHERE path IN ({marks})", part).fetchall())
        return out

    def _generation(self) -> int:
        return int(json.loads(self._conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]))

    def _read_codes(self) -> tuple[int, np.ndarray, np.ndarray]:
        """One consistent snapshot: ``(generation, ids (N,) int64 ascending, packed (N, B) uint8)``."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                generation = self._generation()
                rows = self._conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
            finally:
                self._conn.execute("COMMIT")
        width = packed_width(self.bits)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        packed = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8)
        if packed.size != len(rows) * width:
            raise IndexStoreError(f"{self.db_path}: stored codes do not all have {width} bytes (corrupt index)")
        return generation, ids, packed.reshape(len(rows), width)

    def _ids_with_labels(self, labels: list[str]) -> np.ndarray:
        wanted = sorted({normalize_class_name(x) for x in labels})
        clause = " AND ".join(
            "EXISTS (SELECT 1 FROM json_each(items.labels) WHERE json_each.value = ?)" for _ in wanted
        )
        with self._lock:
            rows = self._conn.execute(
                f"SELECT id FROM items WHERE labels IS NOT NULL AND {clause} ORDER BY id", wanted
            ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

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
            backend: ``auto``, ``faiss``, ``faiss-unpadded``, ``numpy`` or ``hash``
                (approximate).
            label_filter: keep items carrying all these labels.

        Returns:
            Per query ``[(id, distance)]`` sorted by ``(distance, id)``.
        """
        return self._searcher.search(query_codes, k=k, radius=radius, backend=backend, label_filter=label_filter)

    def info(self) -> dict:
        """JSON-able summary: path, format, bits, fingerprint, run_dir, classes, count, sizes."""
        with self._lock:
            meta = self._read_meta()
            labelled = self._conn.execute("SELECT COUNT(*) FROM items WHERE labels IS NOT NULL").fetchone()[0]
        return {
            "path": str(self.path),
            "database": str(self.db_path),
            "format": meta["format"],
            "format_version": meta["format_version"],
            "bits": meta["bits"],
            "bytes_per_code": packed_width(meta["bits"]),
            "count": meta["count"],
            "labelled": int(labelled),
            "next_id": meta["next_id"],
            "generation": meta["generation"],
            "fingerprint": meta["fingerprint"],
            "run_dir": meta["run_dir"],
            "classes": meta["classes"],
            "images_root": meta.get("images_root"),
            "created": meta["created"],
            "radiometry": meta.get("radiometry"),
            "database_bytes": self.db_path.stat().st_size,
            "items_checksum": meta["items_checksum"],
        }

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
            self._searcher.invalidate()

    def __enter__(self) -> CodeIndex:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
