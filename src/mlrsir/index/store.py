"""Persistent index of binary codes: ``CodeIndex``.

Layout: an index is a directory holding one SQLite database, ``index.sqlite`` (plus
SQLite's own ``-wal``/``-shm`` files while it is open)::

    meta(key TEXT PRIMARY KEY, value TEXT)      -- JSON values, see META_KEYS below
    items(id INTEGER PRIMARY KEY, path TEXT UNIQUE, width INT, height INT,
          labels TEXT,                          -- JSON list of label names, or NULL
          code BLOB)                            -- packed code, ceil(bits/8) bytes (pack_codes)

Why the codes live in the database (one BLOB per item) rather than in a separate
``.npy``: a single SQLite transaction then commits codes and metadata together, so an
``add``/``remove`` is atomic and durable without a second file, a generation number and
a tmp+fsync+rename dance, and a crash can never leave codes and rows disagreeing. WAL
mode (``journal_mode=WAL``, ``synchronous=FULL``) lets any number of readers (other
processes, the web server) read a consistent snapshot while one writer appends. Loading
10^6 codes back into a contiguous array is one sequential ``SELECT`` (~1 s).

Metadata (``meta``): ``format`` ("mlrsir-code-index"), ``format_version`` (1),
``bits``, ``fingerprint`` (the model's, see ``mlrsir.training.encoder``), ``run_dir``,
``classes``, ``images_root``, ``created``, ``header_sha256`` (checksum of the static
keys), ``count``, ``next_id`` (ids are never reused), ``items_checksum`` (see
:mod:`mlrsir.index.integrity`) and ``generation`` (incremented by every write; readers
reload their in-memory arrays when it changes).

Integrity: every open checks the SQLite header and file size (truncation), the format
version, the header checksum and the row count. ``verify=True`` (default) also
recomputes the item checksum over every row and runs ``PRAGMA quick_check`` (~0.6 s per
10^5 items); a flipped byte in a code, a path or a label, or a damaged page, raises
:class:`~mlrsir.errors.IndexError_` naming the database file.

Paths are stored as given by the caller; the CLI stores absolute resolved paths (so the
web app can serve them) and records the build's image folder in ``images_root``.

Search: :meth:`CodeIndex.search` keeps a packed in-memory copy of the codes and a
back-end (see :mod:`mlrsir.index.backends`) built lazily and rebuilt when another
writer changed the index. Results per query are ``[(id, distance)]`` sorted by
``(distance, id)``.

Label filter: ``label_filter=[a, b]`` keeps only items whose labels contain **all** of
``a`` and ``b`` (names normalised like label files: lower case, ``-``/space -> ``_``).
A label no item carries simply gives no results.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from mlrsir.codes import check_bits, pack_codes, unpack_codes
from mlrsir.data.labels import normalize_class_name
from mlrsir.errors import ConfigError, IndexError_
from mlrsir.index import integrity
from mlrsir.index.backends import make_backend, packed_width

FORMAT = "mlrsir-code-index"
FORMAT_VERSION = 1
DB_NAME = "index.sqlite"
FINGERPRINT_KEYS = ("bits", "backbone", "method", "image_size", "weights_sha256")
_STATIC_KEYS = ("format", "format_version", "bits", "fingerprint", "run_dir", "classes", "images_root", "created")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    labels TEXT,
    code BLOB NOT NULL
);
"""


def _canonical(value):
    """JSON round trip, so tuples/lists and int/str keys compare like stored values."""
    return json.loads(json.dumps(value, sort_keys=True))


def fingerprint_differences(stored: dict, expected: dict) -> list[str]:
    """Human-readable ``key: stored X, expected Y`` for every key that differs."""
    stored, expected = _canonical(stored or {}), _canonical(expected or {})
    out = []
    for key in sorted(set(stored) | set(expected)):
        if stored.get(key) != expected.get(key):
            out.append(f"{key}: index has {stored.get(key)!r}, model has {expected.get(key)!r}")
    return out


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
        self._cache: dict | None = None  # generation, ids, packed, backends

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
        overwrite: bool = False,
    ) -> "CodeIndex":
        """Create an empty index in directory ``path`` and open it for writing.

        The database is written to a temporary file, fsynced and renamed into place, so a
        crash never leaves a half-created index. Refuses a directory that already holds
        an index unless ``overwrite`` (do not overwrite an index other processes have open).
        """
        path = Path(path)
        bits = int(bits)
        if bits < 1:
            raise ConfigError(f"bits must be >= 1, got {bits}")
        if path.exists() and not path.is_dir():
            raise IndexError_(f"{path}: exists and is not a directory")
        path.mkdir(parents=True, exist_ok=True)
        db = path / DB_NAME
        if db.exists():
            if not overwrite:
                raise IndexError_(f"{path}: an index already exists here (use overwrite / --overwrite to replace it)")
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        tmp = path / (DB_NAME + ".tmp")
        tmp.unlink(missing_ok=True)
        static = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "bits": bits,
            "fingerprint": _canonical(dict(fingerprint or {})),
            "run_dir": None if run_dir is None else str(run_dir),
            "classes": None if classes is None else [str(c) for c in classes],
            "images_root": None if images_root is None else str(images_root),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        meta = dict(static)
        meta.update(
            header_sha256=integrity.header_digest(static),
            count=0,
            next_id=1,
            items_checksum=integrity.to_hex(0),
            generation=0,
        )
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.executescript(_SCHEMA)
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, db)
        integrity.fsync_dir(path)
        return cls.open(path, verify=False)

    @classmethod
    def open(
        cls,
        path,
        *,
        expected_fingerprint: dict | None = None,
        readonly: bool = False,
        verify: bool = True,
    ) -> "CodeIndex":
        """Open an existing index.

        Args:
            path: the index directory (or its ``index.sqlite``).
            expected_fingerprint: when given, refuse an index made by another model.
            readonly: open the database read-only (``add``/``remove`` then fail).
            verify: recompute the item checksum and run ``PRAGMA quick_check``.

        Raises:
            IndexError_: missing/corrupt/truncated file, other format version, checksum
                mismatch, or fingerprint mismatch (message names the file).
        """
        path = Path(path)
        if path.name == DB_NAME and path.is_file():
            path = path.parent
        db = path / DB_NAME
        if not path.is_dir() or not db.exists():
            raise IndexError_(f"{path}: no index here ({DB_NAME} not found); build one with `mlrsir index build`")
        integrity.check_sqlite_file(db)
        try:
            if readonly:
                conn = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False, timeout=30)
            else:
                conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            raise IndexError_(f"{db}: cannot open as SQLite ({exc})") from None
        try:
            index = cls(path, conn, readonly)
            index._check(verify)
            if expected_fingerprint is not None:
                diffs = fingerprint_differences(index.fingerprint, expected_fingerprint)
                if diffs:
                    raise IndexError_(
                        f"{db}: index was built by another model ({'; '.join(diffs)}); "
                        "rebuild the index with this model or use the model it was built with"
                    )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise IndexError_(f"{db}: corrupt index database ({exc})") from None
        except BaseException:
            conn.close()
            raise
        return index

    # ------------------------------------------------------------------ integrity
    def _read_meta(self) -> dict:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexError_(f"{self.db_path}: corrupt or not an mlrsir index ({exc})") from None
        meta = {}
        for key, value in rows:
            try:
                meta[key] = json.loads(value)
            except json.JSONDecodeError:
                raise IndexError_(f"{self.db_path}: metadata entry {key!r} is corrupt") from None
        if meta.get("format") != FORMAT:
            raise IndexError_(f"{self.db_path}: not an mlrsir code index (format {meta.get('format')!r})")
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise IndexError_(
                f"{self.db_path}: index format version {version!r}, this mlrsir reads version "
                f"{FORMAT_VERSION}; rebuild the index with `mlrsir index build`"
            )
        static = {key: meta.get(key) for key in _STATIC_KEYS}
        if integrity.header_digest(static) != meta.get("header_sha256"):
            raise IndexError_(f"{self.db_path}: metadata checksum mismatch (header entries were modified or corrupted)")
        return meta

    def _check(self, verify: bool) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                meta = self._read_meta()
                count = self._conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
                if count != meta["count"]:
                    raise IndexError_(f"{self.db_path}: {count} item rows but the metadata records {meta['count']}")
                if verify:
                    problems = self._conn.execute("PRAGMA quick_check").fetchall()
                    if problems != [("ok",)]:
                        text = "; ".join(str(p[0]) for p in problems[:3])
                        raise IndexError_(f"{self.db_path}: SQLite integrity check failed ({text})")
                    width = packed_width(self.bits)
                    total = 0
                    for row in self._conn.execute("SELECT id, path, width, height, labels, code FROM items"):
                        if len(row[5]) != width:
                            raise IndexError_(f"{self.db_path}: item {row[0]} has a code of {len(row[5])} bytes, expected {width}")
                        total = integrity.combine(total, integrity.row_digest(*row))
                    if integrity.to_hex(total) != meta["items_checksum"]:
                        raise IndexError_(
                            f"{self.db_path}: item checksum mismatch (codes or metadata of stored images "
                            "were modified or corrupted); rebuild the index"
                        )
            finally:
                self._conn.execute("COMMIT")

    def verify(self) -> None:
        """Full check (checksum + quick_check); raises IndexError_ on any problem."""
        self._check(verify=True)

    # ------------------------------------------------------------------ writes
    def _begin_write(self) -> dict:
        if self.readonly:
            raise IndexError_(f"{self.db_path}: index opened read-only")
        self._conn.execute("BEGIN IMMEDIATE")
        return {k: json.loads(v) for k, v in self._conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('count', 'next_id', 'items_checksum', 'generation')")}

    def _commit_write(self, state: dict) -> None:
        state["generation"] += 1
        self._conn.executemany(
            "UPDATE meta SET value = ? WHERE key = ?", [(json.dumps(v), k) for k, v in state.items()]
        )
        self._conn.execute("COMMIT")
        self._cache = None

    def add(self, records: list[dict], codes: np.ndarray) -> list[int]:
        """Add items atomically (all or none).

        Args:
            records: one dict per item: ``path`` (str, unique in the index), ``width``,
                ``height`` (int pixels), ``labels`` (list[str] or None).
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
            rows.append((path, int(record.get("width") or 0), int(record.get("height") or 0), labels_json))
        packed = pack_codes(codes)
        with self._lock:
            state = self._begin_write()
            try:
                first = int(state["next_id"])
                total = integrity.from_hex(state["items_checksum"])
                for i, (path, width, height, labels_json) in enumerate(rows):
                    item_id, code = first + i, packed[i].tobytes()
                    self._conn.execute(
                        "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", (item_id, path, width, height, labels_json, code)
                    )
                    total = integrity.combine(total, integrity.row_digest(item_id, path, width, height, labels_json, code))
                state.update(
                    count=state["count"] + len(rows), next_id=first + len(rows), items_checksum=integrity.to_hex(total)
                )
                self._commit_write(state)
            except sqlite3.IntegrityError as exc:
                self._conn.execute("ROLLBACK")
                raise IndexError_(f"{self.db_path}: cannot add items ({exc}; a path is already in the index?)") from None
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
                        f"SELECT id, path, width, height, labels, code FROM items WHERE id IN ({marks})", part
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
        return {
            "id": int(row[0]),
            "path": row[1],
            "width": int(row[2]),
            "height": int(row[3]),
            "labels": None if row[4] is None else json.loads(row[4]),
        }

    def get(self, item_id: int) -> dict:
        """``{id, path, width, height, labels}``; KeyError for an unknown id."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, path, width, height, labels FROM items WHERE id = ?", (int(item_id),)
            ).fetchone()
        if row is None:
            raise KeyError(item_id)
        return self._row_dict(row)

    def get_many(self, ids: list[int]) -> list[dict]:
        """:meth:`get` for several ids, in the given order."""
        return [self.get(i) for i in ids]

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

    def _loaded(self) -> dict:
        """In-memory ids ``(N,) int64`` ascending and packed codes ``(N, B) uint8``, fresh."""
        with self._lock:
            generation = self._generation()
            if self._cache is not None and self._cache["generation"] == generation:
                return self._cache
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
                raise IndexError_(f"{self.db_path}: stored codes do not all have {width} bytes (corrupt index)")
            self._cache = {"generation": generation, "ids": ids, "packed": packed.reshape(len(rows), width),
                           "backends": {}}
            return self._cache

    def ids(self) -> np.ndarray:
        """All ids, ``(N,) int64`` ascending."""
        return self._loaded()["ids"].copy()

    def codes(self, ids=None) -> np.ndarray:
        """Unpacked codes ``(n, bits) uint8`` in {0,1}, of all items (id order) or of ``ids``."""
        cache = self._loaded()
        packed = cache["packed"]
        if ids is not None:
            ids = np.asarray(ids, dtype=np.int64).reshape(-1)
            pos = np.searchsorted(cache["ids"], ids)
            pos_clipped = np.minimum(pos, max(0, cache["ids"].size - 1))
            bad = (pos >= cache["ids"].size) | (cache["ids"][pos_clipped] != ids) if cache["ids"].size else np.ones(ids.shape, bool)
            if bad.any():
                raise KeyError(int(ids[bad][0]))
            packed = packed[pos]
        return unpack_codes(packed, self.bits) if packed.shape[0] else np.zeros((0, self.bits), np.uint8)

    def random_id(self, rng=None) -> int:
        """A uniformly drawn id (``rng``: numpy Generator or seed)."""
        ids = self._loaded()["ids"]
        if ids.size == 0:
            raise IndexError_(f"{self.path}: the index is empty")
        return int(ids[np.random.default_rng(rng).integers(ids.size)])

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

    def search(
        self,
        query_codes: np.ndarray,
        k: int | None = 20,
        radius: int | None = None,
        backend: str = "auto",
        label_filter: list[str] | None = None,
    ) -> list[list[tuple[int, int]]]:
        """Nearest items by Hamming distance.

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
        q = np.asarray(query_codes)
        if q.ndim == 1:
            q = q[None, :]
        q = check_bits(q, "query_codes")
        if q.shape[1] != self.bits:
            raise ConfigError(f"query codes have {q.shape[1]} bits, the index {self.path} stores {self.bits}-bit codes")
        cache = self._loaded()
        if label_filter:
            keep = np.isin(cache["ids"], self._ids_with_labels(label_filter))
            engine = make_backend(backend, self.bits).build(cache["packed"][keep], cache["ids"][keep])
        else:
            engine = cache["backends"].get(backend)
            if engine is None:
                engine = make_backend(backend, self.bits).build(cache["packed"], cache["ids"])
                cache["backends"][backend] = engine
        return engine.search(pack_codes(q), k=k, radius=radius)

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
            "database_bytes": self.db_path.stat().st_size,
            "items_checksum": meta["items_checksum"],
        }

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]
            self._cache = None

    def __enter__(self) -> "CodeIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
