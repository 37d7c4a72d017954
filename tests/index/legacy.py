"""Indexes as older mlrsir versions wrote them (formats 1 and 2: codes as BLOBs in SQLite).

Written directly with the old schema and the old metadata (not by converting a format 3
index), so the migration tests read what an older release really left on disk.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from mlrsir.index import integrity

SCHEMA_V2 = """
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


def make_legacy_index(
    path: Path,
    *,
    version: int,
    bits: int,
    records: list[dict],
    codes: np.ndarray,
    fingerprint: dict,
    run_dir: str | None = "/runs/old",
    classes: list[str] | None = None,
    removed_ids: tuple[int, ...] = (),
) -> Path:
    """A format ``version`` (1 or 2) index of ``records`` with unpacked ``codes`` (ids
    1..n; ``removed_ids`` are left out as an old ``remove`` did)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    schema = SCHEMA_V2 if version == 2 else SCHEMA_V2.replace(",\n    geo TEXT", "")
    static = {
        "format": integrity.FORMAT,
        "format_version": version,
        "bits": bits,
        "fingerprint": fingerprint,
        "run_dir": run_dir,
        "classes": classes,
        "images_root": None,
        "created": "2024-01-01T00:00:00+0000",
    }
    if version == 2:
        static["radiometry"] = None
    packed = np.packbits(np.asarray(codes, np.uint8), axis=1)
    rows, total = [], 0
    for i, (record, code) in enumerate(zip(records, packed), start=1):
        if i in removed_ids:
            continue
        labels = None if record.get("labels") is None else json.dumps([str(x) for x in record["labels"]])
        row = (i, record["path"], int(record["width"]), int(record["height"]), labels, code.tobytes())
        rows.append(row + ((None,) if version == 2 else ()))
        total = integrity.combine(total, integrity.row_digest(*row))
    meta = dict(static)
    meta.update(
        header_sha256=integrity.header_digest(static),
        count=len(rows),
        next_id=len(records) + 1,
        items_checksum=integrity.to_hex(total),
        generation=7,
    )
    conn = sqlite3.connect(path / "index.sqlite", isolation_level=None)
    conn.executescript(schema)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
    marks = ", ".join("?" * len(rows[0])) if rows else ""
    if rows:
        conn.executemany(f"INSERT INTO items VALUES ({marks})", rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return path
