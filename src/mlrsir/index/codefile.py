"""The code files of a format 3 index: packed codes and their ids, memory-mapped.

Two files per *file generation* ``f`` (the index generation at which they were first
committed), beside ``index.sqlite``::

    codes.<f>.bin   64-byte header, then N records of ceil(bits/8) bytes (pack_codes order)
    ids.<f>.bin     64-byte header, then N little-endian int64 item ids, strictly ascending

Record ``i`` of both files is one item (a *slot*). Slots of removed items stay until the
next compaction (they are listed in the database's ``removed`` table, see
:mod:`mlrsir.index.store`). Header: magic ``MLRSIRCF``, layout version (1), kind (1 codes,
2 ids), record width in bytes, the file generation ``f``; zero padding to 64 bytes.

Writes:

* a new pair (compaction, migration from format 1/2) is written under a temporary name,
  fsynced and renamed into place (:func:`mlrsir.io_atomic.atomic_path`) *before* the SQLite
  commit that points to it; the old pair is deleted after that commit;
* ``add`` appends in place: the file is first cut back to the committed length (dropping a
  tail left by a crash), the new records are written and fsynced, then SQLite commits the new
  record count. Bytes below the committed length are never rewritten, so readers that mapped
  a shorter committed length are not disturbed, and a crash before the commit leaves only an
  ignored tail.

Checksums: every file is cut into blocks of :data:`BLOCK_SIZE` bytes (1 MiB, the header
included in block 0); the sha256 of each block (of its committed bytes: the last block may
be partial) is stored in the database table ``code_blocks(file, block, nbytes, sha256)``,
updated in the same transaction as the record count. An append re-hashes the last partial
block and the new ones only. :func:`verify_blocks` re-hashes every block and names the file
and the first damaged block. Opening checks only the header and the file size
(:func:`check_file`: a few hundred bytes read).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mlrsir.errors import IndexStoreError
from mlrsir.io_atomic import atomic_path

MAGIC = b"MLRSIRCF"
LAYOUT_VERSION = 1
HEADER_SIZE = 64
BLOCK_SIZE = 1 << 20
KINDS = {"codes": 1, "ids": 2}
"""The two code files of a generation and the kind number in their header (iterated: codes, ids)."""
_HEADER = struct.Struct("<8sIIIIQ")
_NAME = re.compile(r"^(codes|ids)\.(\d+)\.bin$")

Block = tuple[str, int, int, str]
"""A ``code_blocks`` row: ``(file kind, block number, bytes covered, sha256 hex)``."""


def file_name(kind: str, generation: int) -> str:
    """``codes.<f>.bin`` / ``ids.<f>.bin`` (``f`` zero-padded to 9 digits)."""
    return f"{kind}.{int(generation):09d}.bin"


def record_width(kind: str, code_width: int) -> int:
    """Bytes per record: the packed code width, or 8 for ids."""
    return int(code_width) if kind == "codes" else 8


def header_bytes(kind: str, width: int, generation: int) -> bytes:
    raw = _HEADER.pack(MAGIC, LAYOUT_VERSION, KINDS[kind], int(width), 0, int(generation))
    return raw + b"\x00" * (HEADER_SIZE - len(raw))


def expected_size(kind: str, code_width: int, records: int) -> int:
    return HEADER_SIZE + int(records) * record_width(kind, code_width)


def check_file(path: Path, kind: str, code_width: int, generation: int, records: int) -> None:
    """Cheap check: the file exists, its header is the expected one and it holds at least
    ``records`` records (a longer file has a tail from an interrupted append: ignored).

    Raises:
        IndexStoreError: naming ``path`` and what is wrong.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(HEADER_SIZE)
    except FileNotFoundError:
        raise IndexStoreError(f"{path}: {kind} file of the index is missing (rebuild the index)") from None
    width = record_width(kind, code_width)
    if head != header_bytes(kind, width, generation):
        raise IndexStoreError(
            f"{path}: not the {kind} file this index expects (header damaged or file from another index)"
        )
    need = expected_size(kind, code_width, records)
    if size < need:
        raise IndexStoreError(f"{path}: truncated: {size} bytes but the index records {records} records ({need} bytes)")


def open_array(path: Path, kind: str, code_width: int, records: int) -> np.ndarray:
    """Read-only memory map of the first ``records`` records: ``(N, width) uint8`` codes or
    ``(N,) int64`` ids (an empty in-memory array when ``records`` is 0)."""
    records = int(records)
    if kind == "codes":
        if records == 0:
            return np.zeros((0, int(code_width)), np.uint8)
        return np.memmap(path, dtype=np.uint8, mode="r", offset=HEADER_SIZE, shape=(records, int(code_width)))
    if records == 0:
        return np.zeros(0, np.int64)
    return np.memmap(path, dtype="<i8", mode="r", offset=HEADER_SIZE, shape=(records,))


def _as_bytes(kind: str, data: np.ndarray) -> memoryview:
    arr = np.ascontiguousarray(data, dtype=np.uint8 if kind == "codes" else "<i8")
    return arr.data.cast("B")


def digest_range(path: Path, kind: str, first_block: int, size: int) -> list[Block]:
    """sha256 rows of blocks ``first_block ..`` of ``path`` covering bytes up to ``size``."""
    out: list[Block] = []
    with open(path, "rb") as handle:
        block = int(first_block)
        while block * BLOCK_SIZE < size:
            start = block * BLOCK_SIZE
            handle.seek(start)
            data = handle.read(min(BLOCK_SIZE, size - start))
            if len(data) != min(BLOCK_SIZE, size - start):
                raise IndexStoreError(f"{path}: short read in block {block} (file truncated while writing?)")
            out.append((kind, block, len(data), hashlib.sha256(data).hexdigest()))
            block += 1
    return out


def write_file(path: Path, kind: str, code_width: int, generation: int, chunks: Iterable[np.ndarray]) -> list[Block]:
    """Write a complete new file atomically (temporary file, fsync, rename, folder fsync)
    from ``chunks`` of records; returns its block rows."""
    width = record_width(kind, code_width)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(header_bytes(kind, width, generation))
            for chunk in chunks:
                handle.write(_as_bytes(kind, chunk))
        blocks = digest_range(tmp, kind, 0, tmp.stat().st_size)
    return blocks


def append(path: Path, kind: str, code_width: int, committed: int, data: np.ndarray) -> list[Block]:
    """Append records after the first ``committed`` ones (a longer tail, left by an
    interrupted append, is cut first), fsync, and return the block rows that changed (the
    last partial block and the new ones). Nothing below the committed length is written."""
    width = record_width(kind, code_width)
    start = expected_size(kind, code_width, committed)
    payload = _as_bytes(kind, data)
    if len(payload) != len(data) * width:
        raise IndexStoreError(f"{path}: {len(data)} records of {len(payload)} bytes, expected width {width}")
    with open(path, "r+b") as handle:
        handle.truncate(start)
        handle.seek(start)
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    return digest_range(path, kind, start // BLOCK_SIZE, start + len(payload))


def verify_blocks(path: Path, kind: str, code_width: int, records: int, blocks: list[tuple[int, int, str]]) -> None:
    """Re-hash every block of the first ``records`` records against the stored rows
    ``[(block, nbytes, sha256)]`` (sorted by block).

    Raises:
        IndexStoreError: naming ``path`` and the first block whose bytes differ, or a block
            table that does not cover the file exactly.
    """
    size = expected_size(kind, code_width, records)
    want = [(b, min(BLOCK_SIZE, size - b * BLOCK_SIZE)) for b in range(-(-size // BLOCK_SIZE))]
    got = [(int(b), int(n)) for b, n, _ in blocks]
    if got != want:
        raise IndexStoreError(
            f"{path}: the block checksum table does not cover the file's {size} committed bytes "
            f"({len(got)} blocks recorded, {len(want)} expected); rebuild the index"
        )
    with open(path, "rb") as handle:
        for block, nbytes, sha in blocks:
            handle.seek(int(block) * BLOCK_SIZE)
            data = handle.read(int(nbytes))
            if hashlib.sha256(data).hexdigest() != sha:
                start = int(block) * BLOCK_SIZE
                raise IndexStoreError(
                    f"{path}: block {block} (bytes {start}-{start + int(nbytes) - 1}) checksum mismatch: "
                    f"the {kind} file was modified or corrupted; rebuild the index"
                )


def list_files(folder: Path) -> list[tuple[str, int, Path]]:
    """``[(kind, file generation, path)]`` of the code files in ``folder``."""
    out = []
    for entry in Path(folder).iterdir():
        match = _NAME.match(entry.name)
        if match:
            out.append((match.group(1), int(match.group(2)), entry))
    return out


def remove_other_generations(folder: Path, keep: int) -> int:
    """Delete code files of other generations than ``keep`` and temporary files left by an
    interrupted write (call while holding the index's write lock); returns how many."""
    removed = 0
    for _kind, generation, path in list_files(folder):
        if generation != int(keep):
            path.unlink(missing_ok=True)
            removed += 1
    for entry in Path(folder).glob(".*.bin.*.tmp"):
        if entry.name.startswith((".codes.", ".ids.")):
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


def committed_path(index_dir: Path, kind: str, meta: dict) -> Path:
    """The committed file of ``kind`` ("codes" or "ids") named by ``meta["code_file"]``."""
    return Path(index_dir) / file_name(kind, int(meta["code_file"]))


def open_committed(index_dir: Path, meta: dict, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Checked memory maps ``(ids (N,) int64, codes (N, width) uint8)`` of the ``meta["code_slots"]``
    committed slots of the pair named by ``meta["code_file"]``."""
    slots = int(meta["code_slots"])
    out = []
    for kind in ("ids", "codes"):
        file = committed_path(index_dir, kind, meta)
        check_file(file, kind, width, int(meta["code_file"]), slots)
        out.append(open_array(file, kind, width, slots))
    return out[0], out[1]
