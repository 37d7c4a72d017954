"""Reading and migrating indexes of formats 1 and 2.

Formats 1 and 2 kept each code as a BLOB column ``items.code`` (format 1 had no ``geo``
column). They are still read as they are (a read-only open never changes them,
:func:`read_codes_v2`); the first write (``add``, ``remove``, ``compact``,
``set_radiometry``) of a writable open migrates the index to format 3 in place
(:func:`migrate_to_v3`: the code files are written and renamed into place, then one
transaction rebuilds ``items`` without ``code``). At 1e6 items a format 2 first search had
to pull every row through Python (31.6 s); format 3 maps the codes and needs no row at all
to search.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from mlrsir.errors import IndexStoreError
from mlrsir.index import codefile, integrity
from mlrsir.index.backends import packed_width
from mlrsir.index.catalogue import ITEMS_TABLE, SCHEMA_V3_EXTRA, Catalogue, store_blocks, write_header
from mlrsir.index.integrity import FORMAT_VERSION

CHUNK = 1 << 18
"""Rows per chunk when copying codes (migration, compaction)."""


def read_codes_v2(conn: sqlite3.Connection, db_path: Path, bits: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Format 1/2 (inside a read transaction): ``(generation, ids (N,) int64, packed (N, ceil(bits/8)) uint8)``
    from the ``code`` column, id order."""
    generation = integrity.read_meta_int(conn, db_path, "generation")
    rows = conn.execute("SELECT id, code FROM items ORDER BY id").fetchall()
    width = packed_width(bits)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    packed = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8)
    if packed.size != len(rows) * width:
        raise IndexStoreError(f"{db_path}: stored codes do not all have {width} bytes (corrupt index)")
    return generation, ids, packed.reshape(len(rows), width)


def _code_chunks(conn: sqlite3.Connection, db_path: Path, kind: str, width: int):
    """The ``code`` column in id order, ``CHUNK`` rows at a time: ids ``(n,)`` or packed codes ``(n, width)``."""
    last = -1
    while True:
        rows = conn.execute("SELECT id, code FROM items WHERE id > ? ORDER BY id LIMIT ?", (last, CHUNK)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        if kind == "ids":
            yield np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        else:
            data = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.uint8)
            if data.size != len(rows) * width:
                raise IndexStoreError(f"{db_path}: stored codes do not all have {width} bytes")
            yield data.reshape(len(rows), width)


def migrate_to_v3(catalogue: Catalogue, index_dir: Path, bits: int) -> int:
    """Migrate a format 1 or 2 index to format 3 in place; returns the format version now stored.

    The code files of the next generation are written from the ``code`` column and renamed
    into place, then one transaction rebuilds ``items`` without ``code`` (with ``geo``),
    creates ``removed`` and ``code_blocks``, and sets ``format_version`` 3 and the header
    checksum. The item checksum is unchanged (same row digests). A crash before the commit
    leaves the old index as it was. The database file keeps its size until ``VACUUM``
    (freed pages are reused by later inserts). An index migrated meanwhile by another
    process is left as it is.
    """
    db_path = catalogue.db_path
    width = packed_width(bits)
    with catalogue.transaction() as conn:
        meta = integrity.read_meta(conn, db_path)
        if int(meta["format_version"]) >= 3:  # migrated by another process meanwhile
            return int(meta["format_version"])
        new_generation = int(meta["generation"]) + 1
        count = int(conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        blocks = []
        for kind in codefile.KINDS:
            target = Path(index_dir) / codefile.file_name(kind, new_generation)
            blocks += codefile.write_file(target, kind, width, new_generation, _code_chunks(conn, db_path, kind, width))
        geo = "geo" if integrity.has_geo_column(conn) else "NULL"
        if count != int(meta["count"]):
            raise IndexStoreError(f"{db_path}: {count} item rows but the metadata records {meta['count']}")
        conn.execute(ITEMS_TABLE.format(name="items_v3"))
        conn.execute(
            f"INSERT INTO items_v3 (id, path, width, height, labels, geo) "
            f"SELECT id, path, width, height, labels, {geo} FROM items ORDER BY id"
        )
        conn.execute("DROP TABLE items")
        conn.execute("ALTER TABLE items_v3 RENAME TO items")
        for statement in SCHEMA_V3_EXTRA.split(";"):
            if statement.strip():
                conn.execute(statement)
        store_blocks(conn, blocks)
        meta["format_version"] = FORMAT_VERSION
        meta.setdefault("radiometry", None)
        write_header(conn, meta)
        dynamic = {
            "count": count,
            "next_id": int(meta["next_id"]),
            "items_checksum": meta["items_checksum"],
            "generation": new_generation,
            "code_file": new_generation,
            "code_slots": count,
            "compacted_generation": new_generation,
            "removed_log_from": new_generation,
        }
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in dynamic.items()])
    codefile.remove_other_generations(Path(index_dir), keep=new_generation)
    return FORMAT_VERSION
