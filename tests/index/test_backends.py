"""Exact back-ends must equal a per-pair Python oracle, ties included."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.index.backends import make_backend, padded_width

EXACT = ("numpy", "faiss", "faiss-unpadded")


_PAIR_CACHE: dict = {}


def pair_distances(db_bits, q_bits):
    """Per pair: count differing bits in plain Python (cached per data set)."""
    key = (db_bits.tobytes(), q_bits.tobytes(), db_bits.shape)
    if key not in _PAIR_CACHE:
        db_rows, q_rows = db_bits.tolist(), q_bits.tolist()
        _PAIR_CACHE[key] = [[sum(a != b for a, b in zip(q, d)) for d in db_rows] for q in q_rows]
    return _PAIR_CACHE[key]


def oracle(db_bits, ids, q_bits, k=None, radius=None):
    """Sort the per-pair distances by (distance, id); keep <= radius; cut to k."""
    out = []
    for row in pair_distances(db_bits, q_bits):
        pairs = [(int(i), d) for i, d in zip(ids, row)]
        if radius is not None:
            pairs = [p for p in pairs if p[1] <= radius]
        pairs.sort(key=lambda p: (p[1], p[0]))
        out.append(pairs if k is None else pairs[:k])
    return out


def packed(bits_array):
    return np.packbits(bits_array, axis=1)


@pytest.fixture(scope="module")
def tie_data():
    rng = np.random.default_rng(3)
    db = rng.integers(0, 2, (2000, 12), dtype=np.uint8)  # 4096 codes, 2000 items: many ties
    ids = np.sort(rng.choice(100_000, 2000, replace=False)).astype(np.int64)  # not positions
    q = rng.integers(0, 2, (40, 12), dtype=np.uint8)
    return db, ids, q


def test_hand_computed_example():
    db = np.array([[1, 1, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1]], np.uint8)
    q = np.array([[1, 0, 0, 0, 0, 0, 0, 0, 1]], np.uint8)
    # distances by hand: item 10 -> 1, item 20 -> 2, item 30 -> 7
    for name in EXACT:
        backend = make_backend(name, 9).build(packed(db), np.array([10, 20, 30]))
        assert backend.search(packed(q), k=2) == [[(10, 1), (20, 2)]]
        assert backend.search(packed(q), k=None, radius=2) == [[(10, 1), (20, 2)]]
        assert backend.search(packed(q), k=None) == [[(10, 1), (20, 2), (30, 7)]]


@pytest.mark.parametrize("name", EXACT)
def test_topk_equals_oracle_with_ties(tie_data, name):
    db, ids, q = tie_data
    expected = oracle(db, ids, q, k=50)
    got = make_backend(name, 12).build(packed(db), ids).search(packed(q), k=50)
    assert got == expected  # every list, in order, including which tied items are kept


@pytest.mark.parametrize("name", EXACT)
def test_radius_and_k_plus_radius(tie_data, name):
    db, ids, q = tie_data
    backend = make_backend(name, 12).build(packed(db), ids)
    assert backend.search(packed(q), k=None, radius=3) == oracle(db, ids, q, radius=3)
    assert backend.search(packed(q), k=7, radius=3) == oracle(db, ids, q, k=7, radius=3)
    assert backend.search(packed(q), k=None, radius=0) == oracle(db, ids, q, radius=0)


@pytest.mark.parametrize("name", ("faiss", "faiss-unpadded"))
def test_large_k_heap_path_and_k_above_n(name):
    rng = np.random.default_rng(5)
    db = rng.integers(0, 2, (6000, 10), dtype=np.uint8)
    ids = np.arange(0, 12000, 2, dtype=np.int64)
    q = rng.integers(0, 2, (3, 10), dtype=np.uint8)
    ref = make_backend("numpy", 10).build(packed(db), ids)
    got = make_backend(name, 10).build(packed(db), ids)
    assert got.search(packed(q), k=5000) == ref.search(packed(q), k=5000)  # k > 4096: heap selection
    small = got.build(packed(db[:30]), ids[:30]).search(packed(q), k=100)
    assert [len(r) for r in small] == [30, 30, 30]
    assert small == oracle(db[:30], ids[:30], q, k=100)


@pytest.mark.parametrize("bits", [7, 24, 48, 64, 100])
def test_other_widths(bits):
    rng = np.random.default_rng(bits)
    db = rng.integers(0, 2, (300, bits), dtype=np.uint8)
    q = rng.integers(0, 2, (5, bits), dtype=np.uint8)
    ids = np.arange(300)
    expected = oracle(db, ids, q, k=20)
    for name in EXACT:
        assert make_backend(name, bits).build(packed(db), ids).search(packed(q), k=20) == expected


def test_padded_widths():
    assert [padded_width(b) for b in (8, 12, 32, 33, 48, 64, 65, 128, 129, 512, 520)] == [
        4,
        4,
        4,
        8,
        8,
        8,
        16,
        16,
        32,
        64,
        72,
    ]


def test_hash_backend_returns_true_distances(tie_data):
    db, ids, q = tie_data
    got = make_backend("hash", 12).build(packed(db), ids).search(packed(q), k=50)
    truth = {i: row for i, row in zip(ids.tolist(), db)}
    for query, result in zip(q, got):
        assert result == sorted(result, key=lambda p: (p[1], p[0]))
        for item_id, dist in result:
            assert dist == int((truth[item_id] != query).sum())


def test_empty_and_invalid():
    backend = make_backend("faiss", 12).build(np.zeros((0, 2), np.uint8), np.zeros(0, np.int64))
    assert backend.search(np.zeros((2, 2), np.uint8), k=5) == [[], []]
    with pytest.raises(ConfigError):
        backend.search(np.zeros((1, 2), np.uint8), k=0)
    with pytest.raises(ConfigError):
        make_backend("annoy", 12)
    with pytest.raises(ValueError):
        make_backend("numpy", 12).build(np.zeros((2, 2), np.uint8), np.array([2, 1]))
