"""A flipped byte inside SQLite's unique path index (issue 10, item 4).

The item checksum covers the table rows only, and ``PRAGMA quick_check`` does not compare
an index's entries with the table, so a damaged path index used to pass ``--verify``; then
``add`` stored the same image twice and ``remove --paths`` found the wrong row.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.errors import IndexStoreError
from mlrsir.index.store import DB_NAME, CodeIndex

FP = {"bits": 16, "backbone": "efficientnet_lite0", "method": "mlrsir", "image_size": 256, "weights_sha256": "ab12"}


def _records(n):
    return [{"path": f"/data/img{i:04d}.jpg", "width": 10, "height": 10, "labels": None} for i in range(n)]


def _damaged_index(tmp_path):
    """An index of 20 items whose unique path index has one byte flipped (`.jpg` -> `.jpk` in one key)."""
    ix = tmp_path / "ix"
    index = CodeIndex.create(ix, bits=16, fingerprint=FP, run_dir="/runs/a", classes=None)
    index.add(_records(20), np.random.default_rng(0).integers(0, 2, (20, 16), dtype=np.uint8))
    index.close()
    db = ix / DB_NAME
    conn = sqlite3.connect(db)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    ((name, root),) = conn.execute(
        "SELECT name, rootpage FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'"
    ).fetchall()
    conn.close()
    data = bytearray(db.read_bytes())
    page = data[(root - 1) * page_size : root * page_size]
    assert page[0] == 0x0A, "the 20-key path index fits in one leaf page"
    key = page.index(b"/data/img0007.jpg")
    offset = (root - 1) * page_size + key + len("/data/img0007.jp")
    data[offset] ^= 0x0C  # 'g' -> 'k'
    db.write_bytes(bytes(data))
    return ix, name


def test_damaged_path_index_fails_verify(tmp_path, capsys):
    ix, _ = _damaged_index(tmp_path)
    with pytest.raises(IndexStoreError, match=f"{DB_NAME}.*(path index|integrity)"):
        CodeIndex.open(ix, readonly=True, verify=True, deep=True)
    assert main(["index", "info", "--index", str(ix), "--verify"]) == 2
    captured = capsys.readouterr()
    assert "verified" not in captured.out and DB_NAME in captured.err


def test_damaged_path_index_refused_for_writing(tmp_path):
    ix, _ = _damaged_index(tmp_path)
    for verify in (True, False):
        with pytest.raises(IndexStoreError, match=f"{DB_NAME}.*path index"):
            CodeIndex.open(ix, verify=verify)
    # nothing was written: the row count and the stored rows are unchanged
    conn = sqlite3.connect(ix / DB_NAME)
    assert conn.execute("SELECT count(*) FROM items NOT INDEXED").fetchone()[0] == 20
    conn.close()


def test_healthy_index_passes_the_deep_check(tmp_path):
    ix = tmp_path / "ok"
    index = CodeIndex.create(ix, bits=16, fingerprint=FP, run_dir=None, classes=None)
    index.add(_records(50), np.zeros((50, 16), dtype=np.uint8))
    index.close()
    CodeIndex.open(ix, readonly=True, deep=True).close()
    with CodeIndex.open(ix, verify=False) as index:
        assert len(index) == 50
