"""CodeIndex: persistence, incremental updates, atomicity, integrity, fingerprint, labels."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from mlrsir.errors import IndexStoreError
from mlrsir.index import integrity
from mlrsir.index.store import DB_NAME, CodeIndex

FP = {"bits": 16, "backbone": "efficientnet_lite0", "method": "mlrsir", "image_size": 256, "weights_sha256": "ab12"}


def records(start, n, labels=None):
    return [
        {
            "path": f"/data/img{i:04d}.jpg",
            "width": 100 + i,
            "height": 50 + i,
            "labels": None if labels is None else labels(i),
        }
        for i in range(start, start + n)
    ]


def random_codes(n, seed=0, bits=16):
    return np.random.default_rng(seed).integers(0, 2, (n, bits), dtype=np.uint8)


@pytest.fixture
def index(tmp_path):
    idx = CodeIndex.create(tmp_path / "ix", bits=16, fingerprint=FP, run_dir="/runs/a", classes=["x", "y"])
    yield idx
    idx.close()


def test_round_trip(tmp_path, index):
    codes = random_codes(30)
    ids = index.add(records(0, 30, labels=lambda i: ["x"] if i % 2 else ["x", "y"]), codes)
    assert ids == list(range(1, 31))
    index.close()
    again = CodeIndex.open(tmp_path / "ix")
    assert (again.bits, again.fingerprint, again.run_dir, again.classes) == (16, FP, "/runs/a", ["x", "y"])
    assert len(again) == 30
    assert np.array_equal(again.ids(), np.arange(1, 31))
    assert np.array_equal(again.codes(), codes)
    assert np.array_equal(again.codes([5, 2]), codes[[4, 1]])
    assert again.get(4) == {"id": 4, "path": "/data/img0003.jpg", "width": 103, "height": 53, "labels": ["x"]}
    assert again.get(5)["labels"] == ["x", "y"]
    with pytest.raises(KeyError):
        again.get(99)
    with pytest.raises(KeyError):
        again.codes([99])
    assert again.random_id(0) in set(range(1, 31))
    info = again.info()
    assert info["count"] == 30 and info["bits"] == 16 and info["bytes_per_code"] == 2
    again.close()


def test_search_matches_hand_distances(index):
    codes = random_codes(200, seed=1)
    index.add(records(0, 200), codes)
    q = codes[[7, 8]]
    for backend in ("numpy", "faiss", "faiss-unpadded"):
        got = index.search(q, k=10, backend=backend)
        for qi in range(2):
            dist = [(i + 1, int((codes[i] != q[qi]).sum())) for i in range(200)]
            assert got[qi] == sorted(dist, key=lambda p: (p[1], p[0]))[:10]
    assert index.search(q[0], k=1)[0] == [(8, 0)]  # a single (bits,) code is accepted


def test_incremental_add_remove_ids_stable(tmp_path, index):
    codes = random_codes(20, seed=2)
    index.add(records(0, 10), codes[:10])
    assert index.remove([3, 4, 10, 999]) == 3  # the highest id too; unknown ignored
    ids = index.add(records(10, 10), codes[10:])
    assert ids == list(range(11, 21))  # removed ids are never reused
    kept = [i for i in range(1, 21) if i not in (3, 4, 10)]
    assert index.ids().tolist() == kept
    assert np.array_equal(index.codes(kept), codes[[i - 1 for i in kept]])
    # removed items are never returned, even as exact matches
    for backend in ("numpy", "faiss"):
        for row in index.search(codes[[2, 3, 9]], k=None, backend=backend):
            assert {i for i, _ in row} == set(kept)
    index.close()
    again = CodeIndex.open(tmp_path / "ix")  # checksum kept consistent by add/remove
    assert again.ids().tolist() == kept and again.get(11)["path"] == "/data/img0010.jpg"
    again.close()


def test_failed_add_leaves_old_index_intact(tmp_path, index, monkeypatch):
    codes = random_codes(12, seed=3)
    index.add(records(0, 5), codes[:5])
    before = (index.ids().tolist(), index.codes().copy(), index.info()["items_checksum"])
    calls = {"n": 0}
    real = integrity.row_digest

    def failing_digest(*args):
        calls["n"] += 1
        if calls["n"] == 3:  # rows 1 and 2 are already inserted in the open transaction
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(integrity, "row_digest", failing_digest)
    with pytest.raises(RuntimeError, match="disk on fire"):
        index.add(records(5, 7), codes[5:])
    monkeypatch.setattr(integrity, "row_digest", real)
    assert len(index) == 5
    assert (index.ids().tolist(), index.info()["items_checksum"]) == (before[0], before[2])
    with pytest.raises(IndexStoreError, match="already in the index"):
        index.add(records(5, 1) + records(0, 1), codes[5:7])  # second record duplicates a path
    index.close()
    again = CodeIndex.open(tmp_path / "ix")  # opens, checksum verifies
    assert again.ids().tolist() == before[0] and np.array_equal(again.codes(), before[1])
    assert again.add(records(5, 7), codes[5:]) == list(range(6, 13))  # ids continue after 5
    again.close()


def _flip_byte_at(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_flipped_code_byte_is_detected(tmp_path, index):
    # format 3: the codes live in codes.<f>.bin beside the database (format 2 BLOBs:
    # tests/index/test_code_files.py::test_format_2_index_is_read_and_migrated)
    codes = np.zeros((3, 16), np.uint8)
    codes[1] = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 1, 1, 0]
    index.add(records(0, 3), codes)
    index.close()
    (codes_file,) = (tmp_path / "ix").glob("codes.*.bin")
    needle = np.packbits(codes[1]).tobytes()  # the record of item 2
    content = codes_file.read_bytes()
    assert content.count(needle) == 1
    _flip_byte_at(codes_file, content.index(needle))
    with pytest.raises(IndexStoreError, match=f"{codes_file.name}: block 0 .*checksum"):
        CodeIndex.open(tmp_path / "ix")
    # without verify the file still opens (size and header are fine) ...
    CodeIndex.open(tmp_path / "ix", verify=False).close()


def test_flipped_path_byte_is_detected(tmp_path, index):
    index.add(records(0, 3), random_codes(3))
    index.close()
    db = tmp_path / "ix" / DB_NAME
    offset = db.read_bytes().index(b"/data/img0002.jpg") + 6
    _flip_byte_at(db, offset)
    with pytest.raises(IndexStoreError, match=DB_NAME):
        CodeIndex.open(tmp_path / "ix")


def test_truncated_file_is_detected(tmp_path, index):
    index.add(records(0, 400), random_codes(400))
    index.close()
    db = tmp_path / "ix" / DB_NAME
    data = db.read_bytes()
    assert len(data) > 3 * 4096
    db.write_bytes(data[: len(data) - 4096])  # one page short
    with pytest.raises(IndexStoreError, match=f"{DB_NAME}.*truncated"):
        CodeIndex.open(tmp_path / "ix", verify=False)
    db.write_bytes(data[:1000])  # not even one page
    with pytest.raises(IndexStoreError, match=DB_NAME):
        CodeIndex.open(tmp_path / "ix")


def test_fingerprint_refusal_and_version(tmp_path, index):
    index.close()
    CodeIndex.open(tmp_path / "ix", expected_fingerprint=dict(FP)).close()
    with pytest.raises(IndexStoreError, match="weights_sha256"):
        CodeIndex.open(tmp_path / "ix", expected_fingerprint=dict(FP, weights_sha256="ff00"))
    with pytest.raises(IndexStoreError, match="bits"):
        CodeIndex.open(tmp_path / "ix", expected_fingerprint=dict(FP, bits=32))
    conn = sqlite3.connect(tmp_path / "ix" / DB_NAME)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'format_version'")
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="format version 99"):
        CodeIndex.open(tmp_path / "ix")


def test_create_refuses_existing_and_open_missing(tmp_path, index):
    with pytest.raises(IndexStoreError, match="already exists"):
        CodeIndex.create(tmp_path / "ix", bits=16, fingerprint=FP, run_dir=None, classes=None)
    fresh = CodeIndex.create(tmp_path / "ix", bits=8, fingerprint={}, run_dir=None, classes=None, overwrite=True)
    assert fresh.bits == 8 and len(fresh) == 0
    fresh.close()
    with pytest.raises(IndexStoreError, match="no index here"):
        CodeIndex.open(tmp_path / "nothing")


def test_label_filter_requires_all_labels(index):
    labels = {0: ["x"], 1: ["x", "y"], 2: ["y"], 3: None, 4: ["x", "y", "z"]}
    index.add(records(0, 5, labels=lambda i: labels[i]), random_codes(5, seed=4))
    q = np.zeros((1, 16), np.uint8)
    ids_of = lambda res: sorted(i for i, _ in res[0])  # noqa: E731
    assert ids_of(index.search(q, k=None, label_filter=["x"])) == [1, 2, 5]
    assert ids_of(index.search(q, k=None, label_filter=["x", "Y"])) == [2, 5]  # normalised, ALL
    assert ids_of(index.search(q, k=None, label_filter=["nope"])) == []
    # ordering of a filtered search is still (distance, id)
    res = index.search(q, k=None, label_filter=["y"], backend="faiss")[0]
    assert res == sorted(res, key=lambda p: (p[1], p[0]))


def test_readers_see_writer_updates(tmp_path, index):
    index.add(records(0, 3), random_codes(3, seed=5))
    reader = CodeIndex.open(tmp_path / "ix", readonly=True)
    other = CodeIndex.open(tmp_path / "ix", readonly=True)
    assert len(reader.search(np.zeros((1, 16), np.uint8), k=None)[0]) == 3  # loads its in-memory copy
    # a writer holding an open write transaction does not block readers (WAL)
    writer_conn = sqlite3.connect(tmp_path / "ix" / DB_NAME, isolation_level=None)
    writer_conn.execute("BEGIN IMMEDIATE")
    writer_conn.execute("DELETE FROM items WHERE id = 1")
    assert len(other.search(np.zeros((1, 16), np.uint8), k=None)[0]) == 3
    writer_conn.execute("ROLLBACK")
    writer_conn.close()
    new_ids = index.add(records(3, 2), random_codes(2, seed=6))
    index.remove([1])
    res = reader.search(np.zeros((1, 16), np.uint8), k=None)[0]  # reloads after the writes
    assert sorted(i for i, _ in res) == [2, 3] + new_ids
    with pytest.raises(IndexStoreError, match="read-only"):
        reader.add(records(9, 1), random_codes(1))
    reader.close()
    other.close()


def test_header_tamper_detected(tmp_path, index):
    index.close()
    conn = sqlite3.connect(tmp_path / "ix" / DB_NAME)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'run_dir'", (json.dumps("/elsewhere"),))
    conn.commit()
    conn.close()
    with pytest.raises(IndexStoreError, match="metadata checksum"):
        CodeIndex.open(tmp_path / "ix", verify=False)
