"""What an ingest finished: the scenes an index holds completely, and the build under way.

One table, outside the item checksum (it only lets work be skipped; items are never read
from it)::

    ingest_log(kind TEXT, key TEXT, value TEXT, PRIMARY KEY (kind, key))
      kind 'scene': key = SCENE_SOURCE + "\\n" + TILING; value = {"tiles": n, "finished": ISO time}
      kind 'build': key = 'build';                      value = {"command": {...}, "state": "running" | "done"}

**Complete scenes.** When every tile of a scene (its source: the URL of a remote raster, the
resolved path of a local one) is stored, the fill loop records it with ``tiles`` = the items
then stored under ``SCENE_SOURCE#`` (:func:`mark_complete`, after the transaction that added
the scene's last tiles). A later ingest with the same tiling (``TILING``: tile, stride, bands)
skips such a scene without opening it (no request reaches a server) while the items under it
still number ``tiles`` (:func:`complete_tiles`): a tile removed since, or tiles of another
tiling added since, make the scene be read again (its tiles then go through the per-tile
skip rule of :mod:`mlrsir.ingest.fill`). A scene that failed is never recorded.

**Builds.** ``index build`` records its command (inputs, tiling, radiometry, labels, run)
right after creating the index (:func:`begin_build`) and marks it done at its end when every
input was indexed (:func:`end_build`, exit status 0); a build killed in between, or one
where some scene failed (a server gone, a burst of errors longer than the retries), leaves
``state: running``, and the same command run again continues it in the same index
(:func:`resumable`) instead of refusing the existing folder.
"""

from __future__ import annotations

import json
import time

_DDL = (
    "CREATE TABLE IF NOT EXISTS ingest_log "
    "(kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, key))"
)
TABLE = "ingest_log"


def tiling_key(tile: int, stride: int | None, bands: str | None) -> str:
    """The tiling part of a scene's key: ``"tile=256,stride=256,bands=B04,B03,B02"``."""
    return f"tile={int(tile)},stride={int(stride or tile)},bands={bands or 'default'}"


def stored_tiles(index, scene_source: str) -> int:
    """Items stored under ``SCENE_SOURCE#`` (a range scan of the unique path index)."""
    prefix = f"{scene_source}#"
    upper = f"{scene_source}$"  # '$' follows '#': every path starting with the prefix sorts before it
    return int(index.catalogue.query("SELECT COUNT(*) FROM items WHERE path >= ? AND path < ?", (prefix, upper))[0][0])


def _get(index, kind: str, key: str) -> dict | None:
    if not index.catalogue.has_table(TABLE):
        return None
    rows = index.catalogue.query("SELECT value FROM ingest_log WHERE kind = ? AND key = ?", (kind, key))
    return json.loads(rows[0][0]) if rows else None


def _put(index, rows: list[tuple[str, str, dict]]) -> None:
    if not rows:
        return
    with index.catalogue.transaction() as conn:
        conn.execute(_DDL)
        conn.executemany(
            "INSERT OR REPLACE INTO ingest_log VALUES (?, ?, ?)", [(k, key, json.dumps(v)) for k, key, v in rows]
        )


def complete_tiles(index, scene_source: str, tiling: str) -> int | None:
    """The tiles of a scene recorded complete with ``tiling`` when they are all still stored
    (and no others were added under it since); None otherwise (module doc)."""
    found = _get(index, "scene", f"{scene_source}\n{tiling}")
    if found is None:
        return None
    tiles = int(found["tiles"])
    return tiles if stored_tiles(index, scene_source) == tiles else None


def mark_complete(index, scene_sources: list[str], tiling: str) -> None:
    """Record the scenes as complete with the items now stored under each (module doc)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    rows = [
        ("scene", f"{source}\n{tiling}", {"tiles": stored_tiles(index, source), "finished": now})
        for source in dict.fromkeys(scene_sources)
    ]
    _put(index, rows)


def begin_build(index, command: dict) -> None:
    """Record the build's ``command`` (JSON-able) as running."""
    _put(index, [("build", "build", {"command": command, "state": "running"})])


def end_build(index) -> None:
    """Mark the recorded build done (nothing when none is recorded)."""
    found = _get(index, "build", "build")
    if found is not None:
        _put(index, [("build", "build", {**found, "state": "done"})])


def build_record(index) -> dict | None:
    """``{"command", "state"}`` of the recorded build, or None."""
    return _get(index, "build", "build")


def resumable(index, command: dict) -> bool:
    """Whether ``index build`` with ``command`` continues this index: its recorded build is
    still running with the same command, or it records none and is empty (a build killed
    between creating the index and recording its command)."""
    found = build_record(index)
    if found is None:
        return len(index) == 0
    return found["state"] == "running" and found["command"] == json.loads(json.dumps(command))
