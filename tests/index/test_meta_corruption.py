"""Issue 24 item 17: a flipped byte in ``index.sqlite`` is never a traceback.

Every byte of a small index's database is flipped in turn (a dense sample for the larger
pages: the meta table's page in full); open, verify and search may only raise an
:class:`~mlrsir.errors.MlrsirError`, and an open that succeeds answers like the intact index.
"""

from __future__ import annotations

import json
import shutil
import sqlite3

import numpy as np
import pytest

from mlrsir.errors import IndexStoreError, MlrsirError
from mlrsir.index.store import DB_NAME, CodeIndex

FP = {"bits": 16, "backbone": "x", "method": "mlrsir", "image_size": 8, "weights_sha256": "ab"}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("flip") / "ix"
    codes = np.random.default_rng(0).integers(0, 2, (6, 16), dtype=np.uint8)
    with CodeIndex.create(path, bits=16, fingerprint=FP, run_dir="/r", classes=["a", "b"]) as index:
        index.add([{"path": f"/img/{i}.png", "width": 8, "height": 8, "labels": ["a"]} for i in range(6)], codes)
        index.remove([2])
    conn = sqlite3.connect(path / DB_NAME)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with CodeIndex.open(path, readonly=True) as index:
        expected = index.search(codes[:2], k=4, backend="numpy")
    return path, codes, expected


def _meta_offsets(data: bytes) -> list[int]:
    """Offsets of the bytes of the meta table's values and keys in the file."""
    out = []
    for marker in (b"mlrsir-code-index", b"items_checksum", b"code_slots", b"fingerprint", b"generation"):
        at = data.find(marker)
        assert at >= 0
        out += range(max(0, at - 40), min(len(data), at + 120))
    return sorted(set(out))


def _try(path, codes, expected) -> str:
    try:
        with CodeIndex.open(path, readonly=True) as index:
            index.verify()
            got = index.search(codes[:2], k=4, backend="numpy")
            index.info()
    except MlrsirError:
        return "refused"
    return "same" if got == expected else "different"


def test_every_flipped_meta_byte_is_refused_or_harmless(small_index, tmp_path):
    path, codes, expected = small_index
    data = (path / DB_NAME).read_bytes()
    meta_bytes = _meta_offsets(data)
    offsets = sorted(set(meta_bytes) | set(range(0, len(data), 7)))
    target = tmp_path / "ix"
    shutil.copytree(path, target)
    outcomes = {"refused": 0, "same": 0, "different": 0}
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        (target / DB_NAME).write_bytes(bytes(damaged))
        for suffix in ("-wal", "-shm"):
            (target / (DB_NAME + suffix)).unlink(missing_ok=True)
        outcomes[_try(target, codes, expected)] += 1  # any other exception fails the test here
    assert outcomes["different"] == 0, outcomes
    assert outcomes["refused"] > len(meta_bytes) // 4, outcomes


def _set_meta(path, key, raw_value) -> None:
    conn = sqlite3.connect(path / DB_NAME)
    conn.execute("UPDATE meta SET value = ? WHERE key = ?", (raw_value, key))
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "key, raw",
    [
        ("count", b"\xff\xfe"),  # a BLOB where JSON text belongs (was TypeError in json.loads)
        ("generation", "[1"),  # invalid JSON
        ("code_slots", json.dumps("x")),  # valid JSON of the wrong type
        ("items_checksum", json.dumps("zz")),
    ],
)
def test_corrupt_meta_value_is_a_clear_error(small_index, tmp_path, key, raw):
    path, _codes, _expected = small_index
    target = tmp_path / "ix"
    shutil.copytree(path, target)
    _set_meta(target, key, raw)
    with pytest.raises(IndexStoreError, match="corrupt index metadata"):
        CodeIndex.open(target, readonly=True, verify=False)


def test_invalid_utf8_in_meta_is_a_clear_error(small_index, tmp_path):
    path, _codes, _expected = small_index
    target = tmp_path / "ix"
    shutil.copytree(path, target)
    conn = sqlite3.connect(target / DB_NAME)
    conn.execute("UPDATE meta SET value = CAST(X'22ff22' AS TEXT) WHERE key = 'created'")
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="corrupt index metadata|metadata checksum"):
        CodeIndex.open(target, readonly=True, verify=False)
