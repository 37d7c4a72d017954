"""``mlrsir index compact|ivf|info`` on format 3 and the pieces of ``mlrsir bench index-store``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.index.legacy import make_legacy_index

pytest.importorskip("faiss")


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """IVF k-means with 2 OpenMP threads on a loaded 2-core machine spins for seconds."""
    faiss = pytest.importorskip("faiss")
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


FP = {"bits": 48, "backbone": "x", "method": "mlrsir", "image_size": 8, "weights_sha256": "cd"}


def _index(path, n=3000):
    from mlrsir.bench.index_store import _records

    index = CodeIndex.create(path, bits=48, fingerprint=FP, run_dir=None, classes=["sand", "sea"])
    packed = np.random.default_rng(0).integers(0, 256, (n, 6), dtype=np.uint8)
    index.add_packed(_records(0, n), packed)
    return index, packed


def test_compact_ivf_and_info_commands(tmp_path, capsys):
    index, _ = _index(tmp_path / "ix")
    index.remove(list(range(1, 101)))
    index.close()
    assert main(["index", "info", "--index", str(tmp_path / "ix")]) == 0
    out = capsys.readouterr().out
    assert "3000 records, 100 removed" in out and "no saved structure" in out
    assert main(["index", "compact", "--index", str(tmp_path / "ix"), "--ivf", "--ivf-nlist", "16"]) == 0
    out = capsys.readouterr().out
    assert "3000 -> 2900 code records (2900 items)" in out and "search structure saved" in out
    assert main(["index", "info", "--index", str(tmp_path / "ix"), "--json", "--verify"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["tombstones"] == 0 and info["saved_search"]["ntotal"] == 2900 and info["saved_search"]["nlist"] == 16
    assert main(["index", "ivf", "--index", str(tmp_path / "ix"), "--nlist", "8", "--rebuild"]) == 0
    assert "IVF, 8 cells, 2900 items" in capsys.readouterr().out
    # removing items keeps the saved structure up to date
    assert main(["index", "remove", "--index", str(tmp_path / "ix"), "--ids", "101", "102"]) == 0
    assert "search structure saved" in capsys.readouterr().out


def test_compact_migrates_a_format_2_index(tmp_path, capsys):
    codes = np.random.default_rng(1).integers(0, 2, (5, 16), dtype=np.uint8)
    records = [{"path": f"/p{i}.png", "width": 4, "height": 4, "labels": None} for i in range(5)]
    make_legacy_index(tmp_path / "old", version=2, bits=16, records=records, codes=codes, fingerprint=FP)
    assert main(["index", "compact", "--index", str(tmp_path / "old")]) == 0
    assert "migrated from format 2 to 3" in capsys.readouterr().out
    with CodeIndex.open(tmp_path / "old", readonly=True, verify=True) as index:
        assert index.format_version == 3 and np.array_equal(index.codes(), codes)


def test_bench_probe_verify_and_report(tmp_path):
    from mlrsir.bench import index_store

    index, packed = _index(tmp_path / "ix")
    tag = index.save_search_structure(nlist=16)
    index.close()
    np.save(tmp_path / "q.npy", packed[:5])
    probe = index_store._probe(str(tmp_path / "ix"), "ivf", str(tmp_path / "q.npy"))
    assert probe["mmapped"] and probe["first_search_s"] >= 0 and probe["rss_after_mb"] > 0
    checked = index_store._verify(str(tmp_path / "ix"))
    assert checked["verify_s"] >= 0 and checked["deep_s"] >= 0
    result = {
        "n": 3000,
        "bits": 48,
        "codes": "random",
        "chunk": 3000,
        "cpu_count": 2,
        "insert_s": 1.0,
        "insert_rows_per_s": 3000.0,
        "sqlite_bytes": 500_000,
        "codes_bytes": 18_064,
        "ids_bytes": 24_064,
        "bytes_per_item": {"sqlite": 166.7, "codes": 6.0, "ids": 8.0, "total": 180.7},
        "open_write_s": 0.1,
        "ivf": {k: tag[k] for k in ("file", "nlist", "ntotal", "bytes")},
        "ivf_save_s": 0.2,
        "ivf_sha256_s": 0.01,
        "probes": {"ivf": probe},
        "serve": {"ready_s": 2.0, "command": "x", "rss_mb": 500.0},
        "verify": checked,
        "small_writes": {"items": 10, "add_s": 0.1, "remove_s": 0.1, "ivf_refresh_s": 0.1, "compact_s": 0.1},
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [1.0, 1.0, 1.0],
    }
    result["extrapolated_1e8"] = index_store.extrapolate(result, 100_000_000)
    assert result["extrapolated_1e8"]["insert_s"] == pytest.approx(1.0 * 100_000_000 / 3000)
    text = index_store.to_markdown(result)
    assert "| serve ready | 2.0 s" in text and "1e8 (extrapolated)" in text


@pytest.mark.parametrize("nlist", ["0", "-3", "1000000"])
def test_ivf_nlist_out_of_range_is_refused(tmp_path, capsys, nlist):
    """Issue 24 item 21: ``index ivf --nlist 0/-3/1000000`` was accepted silently."""
    index, _ = _index(tmp_path / "ix", n=500)
    index.close()
    assert main(["index", "ivf", "--index", str(tmp_path / "ix"), "--nlist", nlist]) == 2
    assert f"--nlist {nlist}: must lie between 1 and the number of items (500)" in capsys.readouterr().err
    assert main(["index", "compact", "--index", str(tmp_path / "ix"), "--ivf", f"--ivf-nlist={nlist}"]) == 2
    assert main(["index", "ivf", "--index", str(tmp_path / "ix"), "--nlist", "8"]) == 0
