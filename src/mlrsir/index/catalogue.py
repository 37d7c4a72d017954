"""The SQLite side of an index: schema, transactions, item reads and registered side tables.

:class:`Catalogue` wraps the index's one SQLite connection and its lock. Other modules
reach the database only through it: :meth:`Catalogue.transaction` (a write transaction,
``BEGIN IMMEDIATE`` .. ``COMMIT``, rolled back on any exception), :meth:`Catalogue.reading`
(one consistent read), :meth:`Catalogue.query` and the item reads (:meth:`~Catalogue.get`,
:meth:`~Catalogue.get_many`, ...). The schema of the tables the index owns
(``meta``, ``items``, ``removed``, ``code_blocks``) is described in :mod:`mlrsir.index.store`.

Side tables: data derived from items that lives in tables of its own (predicted labels,
tile quality) is declared once with :func:`register_side_table` (its name, the tables it
creates, the column holding the item id and what its rows do when their item is removed).
The index then covers every registered table present in the database: ``remove`` deletes
the rows of the removed items in the same transaction (``on_remove="delete"``),
``compact`` drops rows whose item is gone (rows left by an index written before side
tables were registered), and the deep verification (``mlrsir index info --verify``) runs
each table's own check; ``info`` reports their rows.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrsir.data.labels import normalize_class_name
from mlrsir.errors import IndexStoreError
from mlrsir.index import integrity

DB_NAME = "index.sqlite"

ITEMS_TABLE = """CREATE TABLE {name} (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    labels TEXT,
    geo TEXT
)"""
"""``items`` of format 3 (``{name}``: the table name, so a migration can build it beside the old one)."""

SCHEMA = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n" + ITEMS_TABLE.format(name="items") + ";\n"
SCHEMA_V3_EXTRA = """
CREATE TABLE removed (id INTEGER PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE code_blocks (
    file TEXT NOT NULL,
    block INTEGER NOT NULL,
    nbytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (file, block)
) WITHOUT ROWID;
"""
"""Tables format 3 adds to :data:`SCHEMA` (removal log, block checksums of the code files)."""


def canonical(value):
    """JSON round trip, so tuples/lists and int/str keys compare like stored values."""
    return json.loads(json.dumps(value, sort_keys=True))


def write_header(conn: sqlite3.Connection, meta: dict) -> None:
    """Write the static keys of ``meta`` and their checksum (inside a write transaction)."""
    static = {key: meta.get(key) for key in integrity.static_keys(meta["format_version"])}
    static["header_sha256"] = integrity.header_digest(static)
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in static.items()])


def store_blocks(conn: sqlite3.Connection, blocks: list, replace_all: bool = False) -> None:
    """Record ``(file, block, nbytes, sha256)`` checksums of the code files (inside a write transaction)."""
    if replace_all:
        conn.execute("DELETE FROM code_blocks")
    conn.executemany("INSERT OR REPLACE INTO code_blocks VALUES (?, ?, ?, ?)", blocks)


def connect(db: Path, readonly: bool) -> sqlite3.Connection:
    """The index's connection to ``db``: read-only (``mode=ro``), or writable in WAL mode with
    full fsync; autocommit (transactions are explicit), usable from any thread (under the lock)."""
    if readonly:
        return sqlite3.connect(
            Path(db).resolve().as_uri() + "?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=30,
        )
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: bulk inserts into the path index
    return conn


def tombstone_ids(conn: sqlite3.Connection, meta: dict) -> np.ndarray:
    """Sorted ids of removed items whose code records are still in the code files (inside a
    read or write transaction; ``meta``: the committed metadata)."""
    rows = conn.execute(
        "SELECT id FROM removed WHERE generation > ? ORDER BY id", (int(meta["compacted_generation"]),)
    ).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def code_blocks(conn: sqlite3.Connection, kind: str) -> list[tuple[int, int, str]]:
    """Recorded ``(block, nbytes, sha256)`` of code file ``kind`` ("codes" or "ids"), block order."""
    return conn.execute(
        "SELECT block, nbytes, sha256 FROM code_blocks WHERE file = ? ORDER BY block", (kind,)
    ).fetchall()


# ---------------------------------------------------------------------- side tables
@dataclass(frozen=True)
class SideTable:
    """A table of data derived from items, outside the item checksum (module doc).

    Attributes:
        name: the table keyed by item id (its rows follow their item).
        item_column: the column holding the item id.
        on_remove: ``"delete"``: an item's rows are deleted with the item (the only rule so far).
        extra_tables: further tables of the same feature, not keyed by item (e.g. parameters).
        check: optional ``check(conn, db_path)`` run by the deep verification; raises
            :class:`~mlrsir.errors.IndexStoreError` naming the problem.
    """

    name: str
    item_column: str = "item_id"
    on_remove: str = "delete"
    extra_tables: tuple[str, ...] = ()
    check: Callable[[sqlite3.Connection, Path], None] | None = None


_SIDE_TABLES: dict[str, SideTable] = {}


def register_side_table(table: SideTable) -> SideTable:
    """Declare a side table (module doc); registering the same declaration twice is a no-op."""
    if table.on_remove != "delete":
        raise ValueError(f"side table {table.name}: unknown removal rule {table.on_remove!r}")
    known = _SIDE_TABLES.get(table.name)
    if known is not None and known != table:
        raise ValueError(f"side table {table.name}: registered twice with different declarations")
    _SIDE_TABLES[table.name] = table
    return table


def side_tables() -> tuple[SideTable, ...]:
    """The registered side tables, in registration order."""
    return tuple(_SIDE_TABLES.values())


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


class Catalogue:
    """The SQLite connection of one open index and the lock serialising its use (module doc)."""

    def __init__(self, conn: sqlite3.Connection, db_path: Path, lock: threading.RLock | None = None):
        self.db_path = Path(db_path)
        self.lock = lock if lock is not None else threading.RLock()
        self.conn: sqlite3.Connection | None = conn
        self.geo_col = "geo" if integrity.has_geo_column(conn) else "NULL"

    def connection(self) -> sqlite3.Connection:
        """The open connection (IndexStoreError once the index is closed)."""
        if self.conn is None:
            raise IndexStoreError(f"{self.db_path}: index is closed")
        return self.conn

    def refresh_columns(self) -> None:
        """Re-read which optional columns ``items`` has (after a format change)."""
        self.geo_col = "geo" if integrity.has_geo_column(self.connection()) else "NULL"

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``with catalogue.transaction() as conn:`` one write transaction (``BEGIN IMMEDIATE``),
        committed at the end of the block, rolled back when it raises."""
        with self.lock:
            conn = self.connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """``with catalogue.reading() as conn:`` reads that all see one committed state."""
        with self.lock:
            conn = self.connection()
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[tuple]:
        """Rows of one read-only statement (under the lock)."""
        with self.lock:
            return self.connection().execute(sql, tuple(params)).fetchall()

    def has_table(self, name: str) -> bool:
        """Whether the database holds table ``name``."""
        with self.lock:
            return _table_exists(self.connection(), name)

    def read_meta(self) -> dict:
        """The whole ``meta`` table, decoded (see :func:`mlrsir.index.integrity.read_meta`)."""
        with self.lock:
            return integrity.read_meta(self.connection(), self.db_path)

    def meta_int(self, key: str) -> int:
        """One integer metadata value."""
        with self.lock:
            return integrity.read_meta_int(self.connection(), self.db_path, key)

    def peek_int(self, key: str) -> int:
        """A metadata value read outside the current transaction's snapshot (a fresh connection)."""
        conn = connect(self.db_path, readonly=True)
        try:
            return integrity.read_meta_int(conn, self.db_path, key)
        finally:
            conn.close()

    def removed_since(self, generation: int, upto: int, below_id: int) -> np.ndarray | None:
        """Ids removed after ``generation`` (up to ``upto``) that are below ``below_id``;
        None when the removal log no longer reaches back to ``generation``."""
        with self.reading() as conn:
            if integrity.read_meta_int(conn, self.db_path, "removed_log_from") > int(generation):
                return None
            rows = conn.execute(
                "SELECT id FROM removed WHERE generation > ? AND generation <= ? AND id < ?",
                (int(generation), int(upto), int(below_id)),
            ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    # ------------------------------------------------------------------ item reads
    @staticmethod
    def row_dict(row) -> dict:
        """An ``items`` row ``(id, path, width, height, labels_json[, geo_json])`` as a record dict."""
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
        """``{id, path, width, height, labels}`` plus ``geo`` for scene tiles; KeyError for an unknown id."""
        rows = self.query(
            f"SELECT id, path, width, height, labels, {self.geo_col} FROM items WHERE id = ?", (int(item_id),)
        )
        if not rows:
            raise KeyError(item_id)
        return self.row_dict(rows[0])

    def get_many(self, item_ids) -> dict[int, dict]:
        """``{id: record}`` (as :meth:`get`) of the ids that exist, one query per 500 ids."""
        ids = [int(i) for i in item_ids]
        out: dict[int, dict] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.query(
                f"SELECT id, path, width, height, labels, {self.geo_col} FROM items WHERE id IN ({marks})", part
            )
            out.update((int(row[0]), self.row_dict(row)) for row in rows)
        return out

    def geo_items(self) -> list[tuple[int, dict]]:
        """``[(id, stored geo dict)]`` of every item with a ``geo`` (id order)."""
        if self.geo_col != "geo":
            return []
        rows = self.query("SELECT id, geo FROM items WHERE geo IS NOT NULL ORDER BY id")
        return [(int(i), json.loads(g)) for i, g in rows]

    def label_counts(self) -> dict[str, int]:
        """``{label: number of items carrying it}`` in one SQL pass (no row reaches Python)."""
        rows = self.query(
            "SELECT j.value, COUNT(DISTINCT items.id) FROM items, json_each(items.labels) AS j "
            "WHERE items.labels IS NOT NULL GROUP BY j.value"
        )
        return {str(k): int(v) for k, v in rows}

    def labelled_count(self) -> int:
        """Items with ground-truth labels."""
        return int(self.query("SELECT COUNT(*) FROM items WHERE labels IS NOT NULL")[0][0])

    def ids_for_paths(self, paths: list[str]) -> dict[str, int]:
        """``{path: id}`` for the given paths that are in the index."""
        out: dict[str, int] = {}
        paths = list(paths)
        for start in range(0, len(paths), 500):
            part = paths[start : start + 500]
            marks = ",".join("?" * len(part))
            out.update(self.query(f"SELECT path, id FROM items WHERE path IN ({marks})", part))
        return out

    def ids_with_labels(self, labels: list[str]) -> np.ndarray:
        """Ids (ascending) of the items whose ground-truth labels contain all ``labels``."""
        wanted = sorted({normalize_class_name(x) for x in labels})
        clause = " AND ".join(
            "EXISTS (SELECT 1 FROM json_each(items.labels) WHERE json_each.value = ?)" for _ in wanted
        )
        rows = self.query(f"SELECT id FROM items WHERE labels IS NOT NULL AND {clause} ORDER BY id", wanted)
        return np.array([r[0] for r in rows], dtype=np.int64)

    # ------------------------------------------------------------------ side tables
    def present_side_tables(self, conn: sqlite3.Connection | None = None) -> list[SideTable]:
        """The registered side tables this database holds."""
        with self.lock:
            conn = conn or self.connection()
            return [t for t in side_tables() if _table_exists(conn, t.name)]

    def delete_side_rows(self, conn: sqlite3.Connection, item_ids) -> None:
        """Delete the side-table rows of ``item_ids`` (inside the write transaction removing them)."""
        ids = [(int(i),) for i in item_ids]
        for table in self.present_side_tables(conn):
            conn.executemany(f"DELETE FROM {table.name} WHERE {table.item_column} = ?", ids)

    def prune_side_rows(self, conn: sqlite3.Connection) -> int:
        """Delete side-table rows whose item is gone (inside a write transaction); returns how many."""
        pruned = 0
        for table in self.present_side_tables(conn):
            cursor = conn.execute(f"DELETE FROM {table.name} WHERE {table.item_column} NOT IN (SELECT id FROM items)")
            pruned += max(0, cursor.rowcount)
        return pruned

    def side_table_report(self) -> dict[str, dict[str, int]]:
        """``{name: {"rows", "orphaned"}}`` of the side tables present (orphaned: item gone)."""
        out = {}
        with self.reading() as conn:
            for table in self.present_side_tables(conn):
                rows, orphaned = conn.execute(
                    f"SELECT COUNT(*), COALESCE(SUM({table.item_column} NOT IN (SELECT id FROM items)), 0) "
                    f"FROM {table.name}"
                ).fetchone()
                out[table.name] = {"rows": int(rows), "orphaned": int(orphaned)}
        return out

    def check_side_tables(self, conn: sqlite3.Connection) -> None:
        """Run every present side table's own check (inside a read transaction)."""
        for table in self.present_side_tables(conn):
            for column in [table.item_column]:
                bad = conn.execute(f"SELECT COUNT(*) FROM {table.name} WHERE typeof({column}) != 'integer'").fetchone()[
                    0
                ]
                if bad:
                    raise IndexStoreError(f"{self.db_path}: side table {table.name} has {bad} rows without an item id")
            if table.check is not None:
                table.check(conn, self.db_path)

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
