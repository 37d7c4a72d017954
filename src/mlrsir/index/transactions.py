"""Write transactions of a format 3 index, and the inserts of ``add``.

A :class:`WriteTransaction` takes SQLite's write lock (``BEGIN IMMEDIATE``), reads the
dynamic metadata (:data:`mlrsir.index.integrity.DYNAMIC_KEYS_V3`) into ``state``, deletes
code files of other generations (left by a crash) and ends with one
:meth:`~WriteTransaction.commit` storing ``state`` with the generation incremented;
leaving the ``with`` block without a commit, or by an exception, rolls back. The order of
the steps inside a write (crash safety) is described in :mod:`mlrsir.index.store`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index import codefile, integrity
from mlrsir.index.catalogue import Catalogue, canonical, store_blocks


class WriteTransaction:
    """``with WriteTransaction(catalogue, index_dir, on_commit) as tx:`` one write (module doc).

    Attributes (inside the block): ``conn`` (the connection), ``state`` (the dynamic
    metadata, updated by the write), ``index_dir``. ``on_commit`` runs after the commit
    (the index drops its snapshot). The caller holds the catalogue's lock.
    """

    def __init__(self, catalogue: Catalogue, index_dir: Path, on_commit: Callable[[], None]):
        self.catalogue = catalogue
        self.index_dir = Path(index_dir)
        self.on_commit = on_commit
        self.conn: sqlite3.Connection = catalogue.connection()
        self.state: dict = {}
        self._ended = False

    def __enter__(self) -> WriteTransaction:
        db_path = self.catalogue.db_path
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            meta = integrity.read_meta(self.conn, db_path)
            if int(meta["format_version"]) < 3:
                raise IndexStoreError(f"{db_path}: the index was changed back to format {meta['format_version']}")
            codefile.remove_other_generations(self.index_dir, keep=int(meta["code_file"]))
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.state = {k: meta[k] for k in integrity.DYNAMIC_KEYS_V3}
        return self

    def commit(self) -> None:
        """Store ``state`` with the generation incremented and commit."""
        self.state["generation"] += 1
        self.conn.executemany(
            "UPDATE meta SET value = ? WHERE key = ?", [(json.dumps(v), k) for k, v in self.state.items()]
        )
        self.conn.execute("COMMIT")
        self._ended = True
        self.on_commit()

    def commit_rows(self) -> None:
        """Commit row changes that leave the codes and the metadata as they are (no new generation)."""
        self.conn.execute("COMMIT")
        self._ended = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self._ended:
            self.conn.execute("ROLLBACK")


def record_rows(records: list[dict]) -> list[tuple]:
    """``(path, width, height, labels_json, geo_json)`` per record, validated."""
    rows = []
    labels_cache: dict[tuple, str] = {}
    for record in records:
        path = record.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"record without a path: {record!r}")
        labels = record.get("labels")
        if labels is None:
            labels_json = None
        else:
            key = tuple(str(x) for x in labels)
            labels_json = labels_cache.get(key)
            if labels_json is None:
                labels_json = labels_cache[key] = json.dumps(list(key))
        geo = record.get("geo")
        geo_json = None if geo is None else json.dumps(canonical(geo), sort_keys=True)
        rows.append((path, int(record.get("width") or 0), int(record.get("height") or 0), labels_json, geo_json))
    return rows


def insert_items(tx: WriteTransaction, rows: list[tuple], packed: np.ndarray, width: int) -> list[int]:
    """Insert ``rows`` (:func:`record_rows`) with their packed codes ``(n, width)`` and commit;
    returns the new ids. A path already in the index raises IndexStoreError (rolled back)."""
    state = tx.state
    first = int(state["next_id"])
    n = len(rows)
    blob = packed.tobytes()
    digest = integrity.row_digest  # looked up now: tests replace it
    total = integrity.from_hex(state["items_checksum"])
    for i, (path, width_px, height_px, labels_json, geo_json) in enumerate(rows):
        total += digest(first + i, path, width_px, height_px, labels_json, blob[i * width : (i + 1) * width], geo_json)
    slots = int(state["code_slots"])
    try:
        tx.conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", ((first + i, *row) for i, row in enumerate(rows))
        )
        ids = np.arange(first, first + n, dtype=np.int64)
        blocks = codefile.append(codefile.committed_path(tx.index_dir, "ids", state), "ids", width, slots, ids)
        blocks += codefile.append(codefile.committed_path(tx.index_dir, "codes", state), "codes", width, slots, packed)
        store_blocks(tx.conn, blocks)
        state.update(
            count=state["count"] + n,
            next_id=first + n,
            items_checksum=integrity.to_hex(total % (1 << 256)),
            code_slots=slots + n,
        )
        tx.commit()
    except sqlite3.IntegrityError as exc:
        raise IndexStoreError(
            f"{tx.catalogue.db_path}: cannot add items ({exc}; a path is already in the index?)"
        ) from None
    return list(range(first, first + n))
