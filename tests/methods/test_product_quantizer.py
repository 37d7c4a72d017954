"""Product quantizer: layout, k-means, encode/decode, AQD against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.methods.product_quantizer import ProductQuantizer, pq_dim, pq_layout


@pytest.mark.parametrize(
    "bits, expected",
    [(12, (3, 16)), (24, (3, 256)), (32, (4, 256)), (36, (9, 16)), (48, (6, 256)), (64, (8, 256))],
)
def test_pq_layout(bits, expected):
    m, k = pq_layout(bits)
    assert (m, k) == expected
    assert m * int(np.log2(k)) == bits


@pytest.mark.parametrize("bits", [0, -8, 10, 30])
def test_pq_layout_rejects_unusable_lengths(bits):
    with pytest.raises(ConfigError, match="bits"):
        pq_layout(bits)


@pytest.mark.parametrize("m, dim", [(3, 258), (4, 256), (6, 258), (8, 256), (9, 261)])
def test_pq_dim_is_smallest_multiple_at_least_256(m, dim):
    assert pq_dim(m) == dim
    assert dim % m == 0 and dim >= 256 and dim - m < 256


def test_dim_must_be_divisible():
    with pytest.raises(ConfigError, match="divisible"):
        ProductQuantizer(10, 3, 4)


def _clustered(n=300, dim=12, centers=5, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, dim)) * 3
    return (c[rng.integers(0, centers, n)] + 0.1 * rng.normal(size=(n, dim))).astype(np.float32)


def test_fit_is_deterministic_and_encode_is_nearest_codeword():
    x = _clustered()
    pq1 = ProductQuantizer(12, 3, 8).fit(x, iters=10, seed=3)
    pq2 = ProductQuantizer(12, 3, 8).fit(x, iters=10, seed=3)
    np.testing.assert_array_equal(pq1.codebooks, pq2.codebooks)
    codes = pq1.encode(x[:20])
    assert codes.shape == (20, 3) and codes.dtype == np.uint8
    # oracle: per subspace, argmin over codewords by a python loop
    for i in range(20):
        for m in range(3):
            sub = x[i, 4 * m : 4 * m + 4].astype(np.float64)
            d = [float(((sub - cw) ** 2).sum()) for cw in pq1.codebooks[m].astype(np.float64)]
            assert codes[i, m] == int(np.argmin(d))


def test_decode_round_trip():
    x = _clustered()
    pq = ProductQuantizer(12, 3, 8).fit(x, iters=5)
    codes = np.array([[0, 1, 2], [7, 7, 7], [3, 0, 5]])
    rec = pq.decode(codes)
    assert rec.shape == (3, 12) and rec.dtype == np.float32
    np.testing.assert_array_equal(rec[1, 4:8], pq.codebooks[1][7])
    # a reconstruction is its own nearest codeword: encode(decode(c)) == c
    np.testing.assert_array_equal(pq.encode(rec), codes)


def test_kmeans_reduces_quantization_error():
    x = _clustered(n=400, dim=12, centers=6)
    zero_iter = ProductQuantizer(12, 3, 8).fit(x, iters=0, seed=1)  # random codewords only
    fitted = ProductQuantizer(12, 3, 8).fit(x, iters=15, seed=1)
    e0, e1 = zero_iter.quantization_error(x), fitted.quantization_error(x)
    assert e1 < e0
    # warm-started refresh never increases the error (Lloyd is monotone)
    fitted.fit(x, iters=3, warm_start=True)
    assert fitted.quantization_error(x) <= e1 + 1e-9
    # error equals the brute-force mean squared reconstruction error
    rec = fitted.decode(fitted.encode(x))
    assert fitted.quantization_error(x) == pytest.approx(float(((x - rec) ** 2).sum(1).mean()), rel=1e-5)


def test_fit_with_fewer_points_than_codewords():
    x = _clustered(n=5, dim=4)
    pq = ProductQuantizer(4, 2, 16).fit(x, iters=3)
    assert pq.codebooks.shape == (2, 16, 2)
    assert pq.quantization_error(x) < 1e-10  # every point is a codeword


def test_aqd_equals_brute_force_to_decoded_database():
    rng = np.random.default_rng(5)
    db = rng.normal(size=(200, 12)).astype(np.float32)
    q = rng.normal(size=(17, 12)).astype(np.float32)
    pq = ProductQuantizer(12, 4, 16).fit(db, iters=8)
    codes = pq.encode(db)
    dist = pq.aqd(q, codes, chunk=5)  # chunking exercised
    assert dist.shape == (17, 200) and dist.dtype == np.float32
    rec = pq.decode(codes).astype(np.float64)
    brute = ((q.astype(np.float64)[:, None, :] - rec[None]) ** 2).sum(2)
    np.testing.assert_allclose(dist, brute, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(
        np.argsort(dist, axis=1, kind="stable"), np.argsort(brute.astype(np.float32), axis=1, kind="stable")
    )


def test_lookup_table_entries():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 6))
    pq = ProductQuantizer(6, 3, 4).fit(x, iters=2)
    t = pq.lookup_table(x[:2])
    assert t.shape == (2, 3, 4)
    assert t[1, 2, 3] == pytest.approx(float(((x[1, 4:6] - pq.codebooks[2][3]) ** 2).sum()), rel=1e-6)


def test_bad_codes_rejected():
    pq = ProductQuantizer(4, 2, 4).fit(np.eye(4), iters=1)
    with pytest.raises(ValueError, match="codes"):
        pq.decode(np.array([[0, 4]]))
    with pytest.raises(ValueError, match="shape"):
        pq.encode(np.zeros((2, 3)))
