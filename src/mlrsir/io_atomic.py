"""Atomic file writes: a reader sees either the old file or the complete new one, never half.

Every writer goes through :func:`atomic_path`: the content is written to a temporary file
``.<name>.<random>.tmp`` in the target's folder (same file system, so the rename is
atomic), flushed and fsynced, renamed over the target with :func:`os.replace`, and the
folder is fsynced so the rename itself survives a power cut. If anything fails before the
rename, the temporary file is removed and the target is untouched.

* :func:`atomic_path` -- for writers that want a file name (SQLite, safetensors).
* :func:`open_atomic` -- a file object (``np.save``, ``json.dump``).
* :func:`write_bytes_atomic`, :func:`write_text_atomic`, :func:`write_json_atomic`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def fsync_dir(path: str | Path) -> None:
    """fsync a directory so a created/renamed entry is durable (no-op where unsupported)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on normal exit it replaces ``path`` durably.

    The temporary file exists (empty) when the block starts. On an exception the temporary
    file is deleted and ``path`` keeps its old content (or stays absent).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


@contextmanager
def open_atomic(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """A file object (``mode`` ``"wb"`` or ``"w"``) whose content replaces ``path`` atomically on exit."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_atomic: mode must be 'w' or 'wb', got {mode!r}")
    if mode == "w" and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with open_atomic(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically."""
    with open_atomic(path, "w", encoding=encoding) as handle:
        handle.write(text)


def write_json_atomic(
    path: str | Path, data: Any, *, indent: int | None = 2, default: Callable[[Any], Any] | None = None
) -> None:
    """Replace ``path`` with ``data`` as JSON (``indent``, then a newline) atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, default=default) + "\n")
