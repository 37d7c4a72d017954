"""The one Hamming distance used everywhere in mlrsir (vectorised, packed or unpacked)."""

from __future__ import annotations

import numpy as np

from mlrsir.codes import check_bits

# popcount of every byte value, used on XOR-ed packed codes
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming_distance_packed(query_packed: np.ndarray, db_packed: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """Hamming distances between packed codes (``(Q, B)`` and ``(N, B)`` uint8).

    Returns ``(Q, N)`` int32 with values in ``[0, 8B]``: the number of differing bits.
    Processes queries in chunks of ``chunk`` to bound memory at ``chunk * N * B`` bytes.
    """
    q = np.ascontiguousarray(query_packed, dtype=np.uint8)
    d = np.ascontiguousarray(db_packed, dtype=np.uint8)
    if q.ndim != 2 or d.ndim != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"packed code shapes differ: queries {q.shape}, database {d.shape}")
    out = np.empty((q.shape[0], d.shape[0]), dtype=np.int32)
    count = getattr(np, "bitwise_count", None)  # numpy >= 2.0: hardware popcount
    for start in range(0, q.shape[0], chunk):
        x = np.bitwise_xor(q[start : start + chunk, None, :], d[None, :, :])
        if count is not None:
            out[start : start + chunk] = count(x).sum(axis=2, dtype=np.int32)
        else:
            out[start : start + chunk] = _POPCOUNT8[x].sum(axis=2, dtype=np.int32)
    return out


def hamming_distance(query_codes: np.ndarray, db_codes: np.ndarray) -> np.ndarray:
    """Hamming distances between unpacked {0,1} codes.

    Args:
        query_codes: ``(Q, k)`` values in {0, 1}.
        db_codes: ``(N, k)`` values in {0, 1}.

    Returns:
        ``(Q, N)`` int32, values in ``[0, k]``.

    >>> hamming_distance(np.array([[0, 1, 1]]), np.array([[0, 1, 1], [1, 0, 1]]))
    array([[0, 2]], dtype=int32)
    """
    q = check_bits(query_codes, "query_codes")
    d = check_bits(db_codes, "db_codes")
    if q.shape[1] != d.shape[1]:
        raise ValueError(f"code lengths differ: queries {q.shape[1]} bits, database {d.shape[1]} bits")
    return hamming_distance_packed(np.packbits(q, axis=1), np.packbits(d, axis=1))
