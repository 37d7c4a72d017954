"""The single Hamming definition: packed == unpacked == per-pair loop, padding changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.codes import pack_codes
from mlrsir.metrics.hamming import hamming_distance, hamming_distance_packed


def _loop(q, d):
    return np.array([[int((a != b).sum()) for b in d] for a in q])


@pytest.mark.parametrize("bits", [1, 7, 8, 12, 32, 48, 64])
def test_packed_unpacked_and_loop_agree(bits):
    rng = np.random.default_rng(bits)
    q = rng.integers(0, 2, size=(9, bits), dtype=np.uint8)
    d = rng.integers(0, 2, size=(13, bits), dtype=np.uint8)
    expected = _loop(q, d)
    np.testing.assert_array_equal(hamming_distance(q, d), expected)
    np.testing.assert_array_equal(hamming_distance_packed(pack_codes(q), pack_codes(d)), expected)
    assert hamming_distance(q, d).dtype == np.int32


def test_zero_padded_bytes_change_no_distance():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 2, size=(5, 12), dtype=np.uint8)
    d = rng.integers(0, 2, size=(6, 12), dtype=np.uint8)
    padded = hamming_distance_packed(pack_codes(q, num_bytes=8), pack_codes(d, num_bytes=8))
    np.testing.assert_array_equal(padded, _loop(q, d))


def test_small_chunks_give_the_same_result():
    rng = np.random.default_rng(1)
    q = pack_codes(rng.integers(0, 2, size=(10, 24), dtype=np.uint8))
    d = pack_codes(rng.integers(0, 2, size=(8, 24), dtype=np.uint8))
    np.testing.assert_array_equal(hamming_distance_packed(q, d, chunk=3), hamming_distance_packed(q, d))


def test_mismatches_are_rejected():
    with pytest.raises(ValueError, match="lengths differ"):
        hamming_distance(np.zeros((1, 8)), np.zeros((1, 9)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        hamming_distance(np.array([[0, 2]]), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="shapes differ"):
        hamming_distance_packed(np.zeros((1, 2), np.uint8), np.zeros((1, 3), np.uint8))
