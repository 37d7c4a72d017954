"""Format 3 storage: code files beside SQLite, block checksums, crash safety, tombstones and
compaction, the saved IVF, migration from format 2 (issue 14, item 3)."""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest

from mlrsir.errors import IndexStoreError
from mlrsir.index import codefile, migrate, saved
from mlrsir.index.store import DB_NAME, CodeIndex
from mlrsir.index.transactions import WriteTransaction
from tests.index.legacy import make_legacy_index
from tests.index.test_backends import oracle


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """IVF k-means with 2 OpenMP threads on a loaded 2-core machine spins for seconds."""
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


FP = {"bits": 12, "backbone": "x", "method": "mlrsir", "image_size": 8, "weights_sha256": "ab"}
BITS = 12  # 4096 codes: many ties at every distance


def recs(start, n, labels=None):
    return [
        {"path": f"/a/{i:05d}.png", "width": 8, "height": 8, "labels": None if labels is None else labels(i)}
        for i in range(start, start + n)
    ]


def rand_codes(n, seed):
    return np.random.default_rng(seed).integers(0, 2, (n, BITS), dtype=np.uint8)


@pytest.fixture
def ix(tmp_path):
    index = CodeIndex.create(tmp_path / "ix", bits=BITS, fingerprint=FP, run_dir="/r", classes=["a", "b"])
    yield index
    index.close()


def files(path):
    return {kind: next(path.glob(f"{kind}.*.bin")) for kind in ("codes", "ids")}


def test_code_files_round_trip(tmp_path, ix):
    codes = rand_codes(50, 0)
    assert ix.add(recs(0, 20), codes[:20]) == list(range(1, 21))
    assert ix.add(recs(20, 30), codes[20:]) == list(range(21, 51))  # appended in place
    ix.close()
    found = files(tmp_path / "ix")
    assert found["codes"].stat().st_size == codefile.HEADER_SIZE + 50 * 2
    assert found["ids"].stat().st_size == codefile.HEADER_SIZE + 50 * 8
    raw_ids = np.frombuffer(found["ids"].read_bytes()[codefile.HEADER_SIZE :], "<i8")
    assert raw_ids.tolist() == list(range(1, 51))
    raw_codes = np.frombuffer(found["codes"].read_bytes()[codefile.HEADER_SIZE :], np.uint8).reshape(50, 2)
    assert np.array_equal(raw_codes, np.packbits(codes, axis=1))
    conn = sqlite3.connect(tmp_path / "ix" / DB_NAME)
    assert "code" not in [r[1] for r in conn.execute("PRAGMA table_info(items)")]  # metadata only
    conn.close()
    with CodeIndex.open(tmp_path / "ix", readonly=True, verify=True) as again:
        assert again.format_version == 3 and len(again) == 50
        assert np.array_equal(again.ids(), np.arange(1, 51)) and np.array_equal(again.codes(), codes)
        assert np.array_equal(again.codes([7, 3]), codes[[6, 2]])
        info = again.info()
        assert info["code_slots"] == 50 and info["tombstones"] == 0 and info["codes_bytes"] == 164


def test_block_checksum_names_file_and_block(tmp_path, ix, monkeypatch):
    monkeypatch.setattr(codefile, "BLOCK_SIZE", 64)  # many blocks in a small file
    ix.add(recs(0, 40), rand_codes(40, 1))
    ix.add(recs(40, 5), rand_codes(5, 2))  # re-hashes the partial last block
    ix.close()
    CodeIndex.open(tmp_path / "ix", verify=True).close()
    ids_file = files(tmp_path / "ix")["ids"]
    data = bytearray(ids_file.read_bytes())
    data[3 * 64 + 5] ^= 0x01  # one bit of block 3
    ids_file.write_bytes(bytes(data))
    with pytest.raises(IndexStoreError, match=rf"{ids_file.name}: block 3 \(bytes 192-255\) checksum mismatch"):
        CodeIndex.open(tmp_path / "ix", readonly=True, verify=True)
    CodeIndex.open(tmp_path / "ix", readonly=True, verify=False).close()  # cheap open: header and size only
    ids_file.write_bytes(bytes(data[: codefile.HEADER_SIZE + 44 * 8]))  # truncated below the committed size
    with pytest.raises(IndexStoreError, match=f"{ids_file.name}: truncated"):
        CodeIndex.open(tmp_path / "ix", readonly=True, verify=False)


def _crash_in_child(action) -> None:
    """Run ``action`` in a forked child that dies (no cleanup, no rollback) when it reaches
    the SQLite commit of a write: the state on disk is the one of a power cut there."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:

            def die(self):
                os._exit(17)

            WriteTransaction.commit = die  # type: ignore[method-assign]
            action()
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 17, "the child did not reach the commit"


def _state(path):
    with CodeIndex.open(path, verify=True) as index:  # full verification: raises on any mix
        return index.ids().tolist(), index.codes().tolist(), index.info()["items_checksum"]


def test_crash_between_code_files_and_commit(tmp_path, ix, monkeypatch):
    monkeypatch.setattr(CodeIndex, "COMPACT_MIN", 10**9)
    codes = rand_codes(60, 3)
    ix.add(recs(0, 30), codes[:30])
    ix.remove([2, 3, 4])
    ix.close()
    path = tmp_path / "ix"
    before = _state(path)

    def crash_add():
        with CodeIndex.open(path) as index:
            index.add(recs(30, 30), codes[30:])

    _crash_in_child(crash_add)  # the records were appended and fsynced, the commit never came
    assert files(path)["ids"].stat().st_size > codefile.HEADER_SIZE + 30 * 8  # the orphan tail is there
    assert _state(path) == before  # ... and ignored: the old state, verified
    with CodeIndex.open(path) as index:
        assert index.add(recs(30, 30), codes[30:]) == list(range(31, 61))  # tail cut, ids not skipped
    assert files(path)["ids"].stat().st_size == codefile.HEADER_SIZE + 60 * 8
    after_add = _state(path)

    def crash_compact():
        with CodeIndex.open(path) as index:
            index.compact()

    _crash_in_child(crash_compact)  # new files renamed into place, the commit never came
    assert len(list(path.glob("codes.*.bin"))) == 2
    assert _state(path) == after_add
    with CodeIndex.open(path) as index:
        assert index.info()["tombstones"] == 3
        assert len(list(path.glob("codes.*.bin"))) == 2  # nothing written yet: kept
        index.compact()
        assert index.info()["tombstones"] == 0 and index.info()["code_slots"] == 57
    assert len(list(path.glob("codes.*.bin"))) == 1  # old pair deleted after the commit
    assert _state(path) == after_add  # same items, codes and checksum


def _check_oracle(index, live: dict[int, np.ndarray], queries, backends=("numpy", "faiss")) -> None:
    ids = np.array(sorted(live), dtype=np.int64)
    db = np.stack([live[i] for i in ids]) if len(ids) else np.zeros((0, BITS), np.uint8)
    assert index.ids().tolist() == ids.tolist()
    assert np.array_equal(index.codes(), db)
    for backend in backends:
        assert index.search(queries, k=25, backend=backend) == oracle(db, ids, queries, k=25)
        assert index.search(queries, k=None, radius=3, backend=backend) == oracle(db, ids, queries, radius=3)


def test_add_remove_compact_match_the_oracle(tmp_path, ix, monkeypatch):
    monkeypatch.setattr(CodeIndex, "COMPACT_MIN", 40)  # automatic compaction happens in the run
    monkeypatch.setattr(CodeIndex, "COMPACT_FRACTION", 0.2)
    rng = np.random.default_rng(5)
    queries = rand_codes(12, 99)
    live: dict[int, np.ndarray] = {}
    next_path = 0
    compactions = 0
    for step in range(10):
        n = int(rng.integers(20, 80))
        codes = rand_codes(n, 100 + step)
        new = ix.add(recs(next_path, n), codes)
        next_path += n
        live.update(zip(new, codes))
        drop = rng.choice(sorted(live), size=int(rng.integers(5, 30)), replace=False).tolist()
        slots_before = ix.info()["code_slots"]
        assert ix.remove(drop + [10**6]) == len(drop)
        compactions += ix.info()["code_slots"] < slots_before
        for i in drop:
            del live[i]
            with pytest.raises(KeyError):
                ix.codes([i])
        _check_oracle(ix, live, queries, backends=("numpy", "faiss") if step % 3 else ("numpy", "faiss", "auto"))
        if step == 6:
            ix.compact()
    assert compactions >= 1
    ix.close()
    with CodeIndex.open(tmp_path / "ix", verify=True) as again:
        _check_oracle(again, live, queries)


def test_saved_ivf_reloaded_and_brought_up_to_date(tmp_path, ix, monkeypatch):
    monkeypatch.setattr(CodeIndex, "COMPACT_MIN", 10**9)
    path = tmp_path / "ix"
    codes = rand_codes(400, 7)
    ix.add(recs(0, 400), codes)
    ix.remove([5, 6, 7])
    live = {i: codes[i - 1] for i in range(1, 401) if i not in (5, 6, 7)}
    tag = ix.save_search_structure(nlist=4)  # nprobe 8 >= nlist: every cell scanned, exact distances
    assert tag is not None and (path / tag["file"]).exists() and tag["ntotal"] == 397
    queries = rand_codes(10, 8)
    in_memory = ix.search(queries, k=30, backend="ivf")
    ix.close()

    def exact_distances(found, live):
        ids = np.array(sorted(live))
        db = np.stack([live[i] for i in ids])
        ref = oracle(db, ids, queries, k=30)
        return [[d for _, d in row] for row in found] == [[d for _, d in row] for row in ref]

    with CodeIndex.open(path, readonly=True) as reader:
        got = reader.search(queries, k=30, backend="ivf")
        engine = reader._searcher._cache["backends"]["ivf"]
        assert engine.mmapped and engine.count == 397  # the saved file, mapped, not rebuilt
        assert got == in_memory and exact_distances(got, live)
        all_within = reader.search(queries, k=None, radius=2, backend="ivf")  # range search
        ids = np.array(sorted(live))
        assert all_within == oracle(np.stack([live[i] for i in ids]), ids, queries, radius=2)
        # a writer changes the index: the reader brings the saved IVF up to date in memory
        with CodeIndex.open(path) as writer:
            more = rand_codes(50, 9)
            new_ids = writer.add(recs(400, 50), more)
            writer.remove([1, 2, new_ids[0]])
            writer.compact()  # the removal log is kept back to the saved generation
        live.update(zip(new_ids, more))
        for i in (1, 2, new_ids[0]):
            del live[i]
        got = reader.search(queries, k=30, backend="ivf")
        engine = reader._searcher._cache["backends"]["ivf"]
        assert not getattr(engine, "mmapped", False) and engine.count == len(live) == 444
        assert exact_distances(got, live)
        assert reader.search(queries, k=None, radius=2, backend="ivf") == oracle(
            np.stack([live[i] for i in sorted(live)]), np.array(sorted(live)), queries, radius=2
        )
    with CodeIndex.open(path) as writer:
        tag2 = writer.save_search_structure()  # brought up to date, same cells
        assert tag2["generation"] > tag["generation"] and tag2["ntotal"] == 444 and tag2["nlist"] == 4
        assert not (path / tag["file"]).exists()  # older saved structures deleted
        writer.remove([10, 11])
    del live[10], live[11]
    # a compaction while no structure is saved prunes the whole removal log: the old tag
    # can no longer be brought up to date and is not used (the IVF is rebuilt)
    tag_file = saved.tag_path(path, tag2["generation"])
    tag_file.rename(tmp_path / "aside.json")
    with CodeIndex.open(path) as writer:
        writer.compact()
    (tmp_path / "aside.json").rename(tag_file)
    with CodeIndex.open(path, readonly=True) as reader:
        assert reader.info()["saved_search"] is None
        reader.search(queries, k=30, backend="ivf")
        engine = reader._searcher._cache["backends"]["ivf"]
        assert not getattr(engine, "mmapped", False) and engine.count == len(live)
    # a damaged saved file is ignored (sha256 against its tag), not handed to faiss
    with CodeIndex.open(path) as writer:
        tag3 = writer.save_search_structure(nlist=4, rebuild=True)
    faiss_file = path / tag3["file"]
    data = bytearray(faiss_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    faiss_file.write_bytes(bytes(data))
    with CodeIndex.open(path, readonly=True) as reader:
        reader.search(queries, k=30, backend="ivf")
        engine = reader._searcher._cache["backends"]["ivf"]
        assert not getattr(engine, "mmapped", False) and engine.nlist != 4  # rebuilt (default cells)


def test_format_2_index_is_read_and_migrated(tmp_path):
    path = tmp_path / "old"
    codes = rand_codes(30, 11)
    labels = lambda i: ["a"] if i % 2 else ["a", "b"]  # noqa: E731
    make_legacy_index(
        path, version=2, bits=BITS, records=recs(0, 30, labels), codes=codes, fingerprint=FP, removed_ids=(4, 9)
    )
    live = {i: codes[i - 1] for i in range(1, 31) if i not in (4, 9)}
    queries = rand_codes(6, 12)
    with CodeIndex.open(path, readonly=True, verify=True) as old:  # read as it is, never changed
        assert old.format_version == 2
        _check_oracle(old, live, queries)
        checksum = old.info()["items_checksum"]
    conn = sqlite3.connect(path / DB_NAME)
    assert "code" in [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    conn.close()
    assert not list(path.glob("*.bin"))

    def crash_migration():
        with CodeIndex.open(path) as index:
            migrate.write_header = lambda conn, meta: os._exit(17)  # type: ignore[assignment]
            index.remove([1])  # migrates first: code files written, then the dying commit

    _crash_in_child(crash_migration)
    assert len(list(path.glob("*.bin"))) == 2  # the new files were in place, unreferenced
    with CodeIndex.open(path, readonly=True, verify=True) as old:
        assert old.format_version == 2 and old.info()["items_checksum"] == checksum
    # the first write migrates to format 3: same ids, codes, labels and item checksum
    with CodeIndex.open(path) as index:
        assert index.format_version == 2
        assert index.remove([1]) == 1
        del live[1]
        assert index.format_version == 3
        _check_oracle(index, live, queries)
        assert index.get(2)["labels"] == ["a"] and index.get(3)["labels"] == ["a", "b"]
        new = index.add(recs(30, 2), rand_codes(2, 13))
        assert new == [31, 32]  # ids continue after the old next_id
    conn = sqlite3.connect(path / DB_NAME)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(items)")]
    meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    conn.close()
    assert "code" not in columns and "geo" in columns and meta["format_version"] == 3
    with CodeIndex.open(path, readonly=True, verify=True, deep=True) as again:
        assert len(again) == 28 - 1 + 2


def test_format_2_flipped_code_blob_is_detected(tmp_path):
    path = tmp_path / "old"
    codes = np.zeros((3, BITS), np.uint8)
    codes[1] = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 0]
    make_legacy_index(path, version=2, bits=BITS, records=recs(0, 3), codes=codes, fingerprint=FP)
    db = path / DB_NAME
    content = bytearray(db.read_bytes())
    needle = np.packbits(codes[1]).tobytes()
    assert content.count(needle) == 1
    content[content.index(needle)] ^= 0xFF
    db.write_bytes(bytes(content))
    with pytest.raises(IndexStoreError, match=f"{DB_NAME}.*checksum"):
        CodeIndex.open(path, readonly=True)


def test_saved_structure_helpers(tmp_path):
    assert saved.tags(tmp_path) == []
    (tmp_path / "ivf.000000003.json").write_text("{not json")
    assert saved.tags(tmp_path) == []  # unreadable tags are skipped
    tag = {"generation": 3, "next_id": 5, "bits": 12, "sha256": "0", "bytes": 1}
    assert saved.usable(tag, 12, 5, 0) and not saved.usable(tag, 12, 2, 0) and not saved.usable(tag, 12, 5, 4)
    assert not saved.usable(tag, 16, 5, 0)
