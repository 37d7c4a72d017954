"""Writing a new, empty index (format 3) into its own folder; :meth:`mlrsir.index.store.CodeIndex.create` opens it."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from mlrsir.codes import check_code_length
from mlrsir.errors import IndexStoreError
from mlrsir.index import codefile, integrity, saved
from mlrsir.index.backends import packed_width
from mlrsir.index.catalogue import DB_NAME, SCHEMA, SCHEMA_V3_EXTRA, canonical
from mlrsir.index.integrity import FORMAT, FORMAT_VERSION
from mlrsir.io_atomic import atomic_path


def static_meta(bits: int, fingerprint: dict, run_dir, classes, images_root, radiometry) -> dict:
    """The static metadata of a new index (covered by ``header_sha256``); ``bits`` checked."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "bits": check_code_length(int(bits)),
        "fingerprint": canonical(dict(fingerprint or {})),
        "run_dir": None if run_dir is None else str(run_dir),
        "classes": None if classes is None else [str(c) for c in classes],
        "images_root": None if images_root is None else str(images_root),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "radiometry": None if radiometry is None else canonical(dict(radiometry)),
    }


def write_empty_index(path, static: dict, *, overwrite: bool = False) -> Path:
    """Write an empty index with the metadata ``static`` (:func:`static_meta`) into directory
    ``path``; returns the directory.

    The (empty) code files and then the database are written to temporary files,
    fsynced and renamed into place, so a crash never leaves a half-created index.
    Refuses a directory that already holds an index unless ``overwrite`` (do not
    overwrite an index other processes have open), and any non-empty directory that
    holds no index (even with ``overwrite``): the index owns its folder and deletes files
    by their names there, so it never moves into a folder of someone else's files.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise IndexStoreError(f"{path}: exists and is not a directory")
    db = path / DB_NAME
    present = sorted(entry.name for entry in path.iterdir()) if path.is_dir() and not db.exists() else []
    if present:
        shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
        raise IndexStoreError(
            f"{path}: not empty and holds no index ({shown}); an index needs a folder of its own: "
            "give a new or empty folder as --index"
        )
    path.mkdir(parents=True, exist_ok=True)
    if db.exists():
        if not overwrite:
            raise IndexStoreError(f"{path}: an index already exists here (use overwrite / --overwrite to replace it)")
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    codefile.remove_other_generations(path, keep=0)
    saved.remove_all(path)
    meta = dict(static)
    meta.update(
        header_sha256=integrity.header_digest(static),
        count=0,
        next_id=1,
        items_checksum=integrity.to_hex(0),
        generation=0,
        code_file=0,
        code_slots=0,
        compacted_generation=0,
        removed_log_from=0,
    )
    width = packed_width(static["bits"])
    blocks = []
    for kind in codefile.KINDS:
        blocks += codefile.write_file(path / codefile.file_name(kind, 0), kind, width, 0, [])
    with atomic_path(db) as tmp:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.executescript(SCHEMA + SCHEMA_V3_EXTRA)
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            conn.executemany("INSERT INTO code_blocks VALUES (?, ?, ?, ?)", blocks)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    return path
