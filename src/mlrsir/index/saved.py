"""The saved search structure of a format 3 index: the IVF in its own file.

Beside ``index.sqlite`` and the code files, an index may hold one saved IVF back-end
(:class:`mlrsir.index.backends.FaissIVFBackend`, the back-end ``auto`` uses from
:data:`~mlrsir.index.backends.AUTO_SUBLINEAR_MIN` items on)::

    ivf.<g>.faiss   faiss.write_index_binary of the IVF built over the live items at index generation g
    ivf.<g>.json    its tag: generation g, next_id at g, bits, nlist, ntotal, file bytes and sha256

The ``.faiss`` file is written first (temporary name, fsync, rename), then the tag the
same way; a ``.faiss`` without its tag is ignored. The inverted lists hold item ids, never
positions, so a structure saved at generation ``g`` stays correct after any later change
once brought up to date: items removed since ``g`` (the database's removal log,
``removed.generation > g``) are removed from it, items added since (ids ``>= next_id`` at
``g``) are added. That needs the log back to ``g``: compaction prunes the log only up to the
newest saved structure (``removed_log_from``), older tags are unusable and ignored.

Loading (:func:`load`): the newest usable tag; the file's size and sha256 are checked
against it (a damaged file is ignored, not trusted to faiss' reader). When the tag is the
current generation the inverted lists are memory-mapped (``faiss.IO_FLAG_MMAP``: nothing
is read until a query touches a list, so the server is ready as soon as the file is
hashed); otherwise the file is read into memory and brought up to date. Only writers save
(:meth:`mlrsir.index.store.CodeIndex.save_search_structure`); a read-only server without
a usable file builds the IVF in memory at its first search (minutes at 1e8).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from mlrsir.index.backends import FaissIVFBackend
from mlrsir.io_atomic import atomic_path, write_json_atomic

_TAG = re.compile(r"^ivf\.(\d+)\.json$")
_FILE = re.compile(r"^ivf\.(\d+)\.(json|faiss)$")


def faiss_path(folder: Path, generation: int) -> Path:
    return Path(folder) / f"ivf.{int(generation):09d}.faiss"


def tag_path(folder: Path, generation: int) -> Path:
    return Path(folder) / f"ivf.{int(generation):09d}.json"


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            data = handle.read(chunk)
            if not data:
                break
            h.update(data)
    return h.hexdigest()


def tags(folder: Path) -> list[dict]:
    """Readable tags in ``folder``, newest generation first (unreadable ones skipped)."""
    out = []
    for entry in Path(folder).iterdir():
        if not _TAG.match(entry.name):
            continue
        try:
            tag = json.loads(entry.read_text(encoding="utf-8"))
            int(tag["generation"]), int(tag["next_id"]), int(tag["bits"]), str(tag["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out.append(tag)
    return sorted(out, key=lambda t: -int(t["generation"]))


def usable(tag: dict, bits: int, generation: int, log_from: int) -> bool:
    """A tag the index at ``generation`` can be brought to (log complete back to it)."""
    return int(tag["bits"]) == int(bits) and int(log_from) <= int(tag["generation"]) <= int(generation)


def newest_usable(folder: Path, bits: int, generation: int, log_from: int) -> dict | None:
    for tag in tags(folder):
        if usable(tag, bits, generation, log_from):
            return tag
    return None


def save(folder: Path, backend, generation: int, next_id: int) -> dict:
    """Write ``backend`` (a built :class:`FaissIVFBackend` over the live items at
    ``generation``) and its tag; delete older saved structures. Returns the tag."""
    target = faiss_path(folder, generation)
    with atomic_path(target) as tmp:
        backend.save(tmp)
        size = tmp.stat().st_size
        digest = file_sha256(tmp)
    tag = {
        "generation": int(generation),
        "next_id": int(next_id),
        "bits": int(backend.bits),
        "nlist": int(backend.nlist),
        "ntotal": int(backend.count),
        "bytes": int(size),
        "sha256": digest,
        "file": target.name,
    }
    write_json_atomic(tag_path(folder, generation), tag)
    remove_older(folder, generation)
    return tag


def remove_older(folder: Path, generation: int) -> None:
    """Delete saved structures (and orphan files) of generations below ``generation``."""
    for entry in Path(folder).iterdir():
        match = _FILE.match(entry.name)
        if match and int(match.group(1)) < int(generation):
            entry.unlink(missing_ok=True)


def remove_all(folder: Path) -> None:
    for entry in Path(folder).iterdir():
        if _FILE.match(entry.name):
            entry.unlink(missing_ok=True)


def check_file(folder: Path, tag: dict) -> Path | None:
    """The tag's ``.faiss`` file when its size and sha256 match the tag, else None."""
    path = faiss_path(folder, int(tag["generation"]))
    try:
        if path.stat().st_size != int(tag["bytes"]):
            return None
        if file_sha256(path) != tag["sha256"]:
            return None
    except OSError:
        return None
    return path


def load(folder: Path, tag: dict, bits: int, nprobe: int, mmap: bool):
    """The back-end saved under ``tag`` (None when its file is missing or damaged)."""

    path = check_file(folder, tag)
    if path is None:
        return None
    try:
        return FaissIVFBackend.load(path, bits, nprobe=nprobe, mmap=mmap)
    except (RuntimeError, ValueError):
        return None
