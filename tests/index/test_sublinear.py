"""Sub-linear back-ends (mih, ivf, hnsw) against the exact oracle with ties; recall with ties;
the realistic code generator; the scale mode of ``mlrsir bench search``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.bench.realistic import grow_codes, measure_flip_rate
from mlrsir.index.backends import AUTO_SUBLINEAR_MIN, canonical_backend, make_backend
from mlrsir.metrics.recall import recall_at_k_with_ties as recall_at_k

pytest.importorskip("faiss")


def test_recall_with_ties_hand_computed():
    # k = 4, exact distances [0, 1, 1, 2]
    assert recall_at_k([[0, 1, 2, 2]], [[0, 1, 1, 2]], 4) == 0.75  # {0, 1, 2} of 4 slots
    assert recall_at_k([[0, 1, 1, 2]], [[0, 1, 1, 2]], 4) == 1.0  # other tied members: all right
    assert recall_at_k([[1, 0, -1, -1]], [[0, 1, 1, 2]], 4) == 0.5  # unsorted, empty slots dropped
    assert recall_at_k([[3, 3, 3, 3]], [[0, 1, 1, 2]], 4) == 0.0
    # more returned than k: only the k smallest count; exact list longer than k is cut
    assert recall_at_k([[0, 1, 1, 2, 2]], [[0, 1, 1, 2, 5]], 4) == 1.0
    assert recall_at_k([[0, 1, 1, 1, 2]], [[0, 1, 1, 2, 2]], 4) == 0.75  # a third 1 fills the slot of a 2
    # fewer than k items in the database: |E| = n; mean over queries
    assert recall_at_k([[5, 7], [5, 5]], [[5, 7], [5, 7]], 100) == 0.75


@pytest.fixture(scope="module")
def ties():
    rng = np.random.default_rng(7)
    db = np.packbits(rng.integers(0, 2, (5000, 16), dtype=np.uint8), axis=1)  # 65536 codes: many ties at top-100
    q = np.packbits(rng.integers(0, 2, (30, 16), dtype=np.uint8), axis=1)
    ids = np.arange(5000, dtype=np.int64) * 3 + 1
    exact = make_backend("flat", 16).build(db, ids).search(q, k=100)
    return db, ids, q, [[d for _, d in row] for row in exact]


def _check(backend, ties) -> float:
    db, ids, q, exact = ties
    got = backend.build(db, ids).search(q, k=100)
    for query, row in zip(np.unpackbits(q, axis=1), got):  # distances are the true ones
        assert row == sorted(row, key=lambda p: (p[1], p[0]))
        for item_id, dist in row[:5]:
            code = np.unpackbits(db[(item_id - 1) // 3])
            assert dist == int((code != query).sum())
    return recall_at_k([[d for _, d in row] for row in got], exact, 100)


def test_mih_exhaustive_probing_is_exact(ties):
    # 2 tables of 8 bits, up to 8 flipped bits: every bucket is probed
    assert _check(make_backend("mih", 16, b=8, nflip=8), ties) == 1.0
    # and the old name still works
    assert make_backend("hash", 16).name == "mih"


def test_ivf_all_cells_is_exact(ties):
    assert _check(make_backend("ivf", 16, nlist=32, nprobe=32), ties) == 1.0
    assert 0.0 < _check(make_backend("ivf", 16, nlist=32, nprobe=2), ties) < 1.0


def test_hnsw_high_ef_search(ties):
    assert _check(make_backend("hnsw", 16, M=16, ef_search=1000, ef_construction=40), ties) >= 0.99


def test_auto_and_aliases():
    assert canonical_backend("auto", 1000) == "faiss"
    assert canonical_backend("auto", AUTO_SUBLINEAR_MIN) == "ivf"
    assert canonical_backend("flat") == "faiss"
    assert make_backend("auto", 48, n=AUTO_SUBLINEAR_MIN).name == "ivf"


def test_realistic_generator_flip_rate():
    rng = np.random.default_rng(0)
    bits, images, views = 24, 400, 8
    rate = np.linspace(0.0, 0.2, bits)
    centre = rng.integers(0, 2, (images, bits), dtype=np.uint8)
    groups = np.repeat(np.arange(images), views)
    codes = centre[groups] ^ (rng.random((images * views, bits)) < rate).astype(np.uint8)
    measured = measure_flip_rate(codes, groups)
    assert np.abs(measured - rate).max() < 0.03
    assert measured[0] == 0.0
    # growing one real code: copies differ from it bit by bit at the given rate
    grown = np.unpackbits(grow_codes(centre[:1], rate, 20000, rng, chunk=7000), axis=1)[:, :bits]
    assert np.abs((grown != centre[0]).mean(axis=0) - rate).max() < 0.015


def test_bench_search_scale_mode(tmp_path, capsys):
    from mlrsir.cli.main import main

    rng = np.random.default_rng(1)
    centre = rng.integers(0, 2, (50, 32), dtype=np.uint8)
    groups = np.repeat(np.arange(50), 4)
    codes = centre[groups] ^ (rng.random((200, 32)) < 0.05).astype(np.uint8)
    real = tmp_path / "real32.npz"
    np.savez(real, codes=codes, groups=groups, bits=32, run="fake")
    png = tmp_path / "qps.png"
    argv = ["bench", "search", "--n", "1000", "--n", "2000", "--bits", "32", "--codes", "random", "realistic"]
    argv += ["--backends", "flat", "mih", "ivf", "hnsw", "--queries", "20", "--k", "10", "--real-codes", str(real)]
    argv += ["--hnsw-max-n", "1000", "--big-n", "2000", "--big-n-queries", "5", "--threads", "1"]
    argv += ["--json", "--plot", str(png)]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["rows"]
    assert len(rows) == 2 * 2 * 4
    assert {r["backend"] for r in rows} == {"flat", "mih", "ivf", "hnsw"}
    assert [r["skipped"] for r in rows if "skipped" in r] == ["n > 1000", "n > 1000"]
    for r in rows:
        if "skipped" not in r:
            assert 0.0 <= r["recall_at_k"] <= 1.0 and r["queries_per_s"] > 0 and r["build_s"] >= 0
            assert r["recall_queries"] == (5 if r["n"] == 2000 else 20)
    assert png.stat().st_size > 1000
