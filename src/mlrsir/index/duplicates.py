"""Near-duplicate groups: connected components of the graph "Hamming distance <= R".

Exact and without a quadratic scan for small radii, by meet in the middle: for Hamming
distance, ``d(x, y) <= R`` iff some code ``z`` has ``d(x, z) <= ceil(R/2)`` and
``d(z, y) <= floor(R/2)``. Every distinct code emits the keys of its ball of radius
``ceil(R/2)`` ("A" keys) and of radius ``floor(R/2)`` ("B" keys); two codes are within
``R`` iff an A key of one equals a B key of the other. Sorting the keys and linking every
code that emitted a key with every code that emitted the same key as a B key gives the
edges (every A–B pair sharing a key is a true edge, and every B–B pair is within
``2 floor(R/2) <= R``), so the components are exact with no verification step. The work
is ``N * |ball(ceil(R/2))|`` keys: 1 per code for R = 0, 1 + bits for R = 1 and 2
(33 for 32 bits), ``1 + bits + bits(bits-1)/2`` for R = 3 and 4 (529 for 32 bits).

Identical codes are collapsed first (``np.unique``), so clusters of exact copies cost one
code. Only keys emitted by two or more codes give edges (a chain per run of equal sorted
keys), so the graph stays as small as the answer. Codes are packed big-endian into
``uint64`` keys when ``bits <= 64``, else compared as fixed-width byte strings. Components come from
:func:`scipy.sparse.csgraph.connected_components` over the code graph.

:func:`duplicate_groups` returns the groups of at least two items (ids sorted, groups
sorted by their first id); :func:`brute_force_groups` is the quadratic oracle for tests.
"""

from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

from mlrsir.errors import ConfigError


def _keys(packed: np.ndarray) -> np.ndarray:
    """One sortable key per packed code row."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    width = packed.shape[1]
    if width <= 8:
        padded = np.zeros((packed.shape[0], 8), np.uint8)
        padded[:, 8 - width :] = packed
        return padded.view(">u8").reshape(-1).astype(np.uint64)
    return packed.view(np.dtype((np.void, width))).reshape(-1)


def _ball(packed: np.ndarray, radius: int, bits: int):
    """Yield packed arrays: ``packed`` with every set of ``<= radius`` bit positions flipped."""
    for r in range(radius + 1):
        for positions in combinations(range(bits), r):
            flipped = packed.copy()
            for p in positions:
                flipped[:, p // 8] ^= np.uint8(0x80 >> (p % 8))
            yield flipped


def ball_size(bits: int, radius: int) -> int:

    return sum(comb(bits, r) for r in range(radius + 1))


def duplicate_groups(ids, packed: np.ndarray, bits: int, radius: int, max_keys: int = 400_000_000) -> list[list[int]]:
    """Groups (>= 2 items) of the connected components of "distance <= radius".

    Args:
        ids: ``(N,)`` item ids.
        packed: ``(N, ceil(bits/8))`` uint8 packed codes (:func:`mlrsir.codes.pack_codes`).
        bits: code length.
        radius: Hamming radius R >= 0.
        max_keys: refuse work above this many keys (memory) with a ConfigError.
    """
    radius = int(radius)
    if radius < 0:
        raise ConfigError(f"--radius must be >= 0, got {radius}")
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        return []
    uniq, inverse = np.unique(np.ascontiguousarray(packed, dtype=np.uint8), axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = len(uniq)
    ra, rb = (radius + 1) // 2, radius // 2
    need = n * (ball_size(bits, ra) + ball_size(bits, rb))
    if need > max_keys:
        raise ConfigError(
            f"radius {radius} on {n} distinct {bits}-bit codes needs {need} keys (> {max_keys}); use a smaller radius"
        )
    if radius > 0:
        comp = _components(uniq, n, bits, ra, rb)
    else:
        comp = np.arange(n)
    item_comp = comp[inverse]
    order = np.lexsort((ids, item_comp))
    sorted_comp = item_comp[order]
    cuts = np.nonzero(np.diff(sorted_comp))[0] + 1
    groups = [g.tolist() for g in np.split(ids[order], cuts) if len(g) > 1]
    groups.sort(key=lambda g: g[0])
    return groups


def _components(uniq: np.ndarray, n: int, bits: int, ra: int, rb: int) -> np.ndarray:
    """Component label per distinct code (module doc). Only keys emitted by two or more
    codes make edges: after sorting, each run of equal keys is linked as a chain (equal
    radii: every pair in a run is within R) or, for odd R, each emitter is linked to the
    run's first B emitter (runs without one make no edge)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    owner = np.arange(n, dtype=np.int64)
    sides = [(ra, 0)] if ra == rb else [(ra, 0), (rb, 1)]
    key_parts: list[np.ndarray] = []
    owner_parts: list[np.ndarray] = []
    is_b_parts: list[np.ndarray] = []
    for radius, side in sides:
        for flipped in _ball(uniq, radius, bits):
            key_parts.append(_keys(flipped))
            owner_parts.append(owner)
            is_b_parts.append(np.full(n, ra == rb or side == 1))
    keys = np.concatenate(key_parts)
    owners = np.concatenate(owner_parts)
    is_b = np.concatenate(is_b_parts)
    order = np.argsort(keys, kind="stable")
    keys, owners, is_b = keys[order], owners[order], is_b[order]
    new_run = np.ones(len(keys), bool)
    new_run[1:] = keys[1:] != keys[:-1]
    run_id = np.cumsum(new_run) - 1
    if ra == rb:  # chain inside each run
        same = ~new_run[1:]
        src, dst = owners[:-1][same], owners[1:][same]
    else:  # link every emitter of a run to the run's first B emitter
        b_pos = np.nonzero(is_b)[0]
        first_b = np.full(int(run_id[-1]) + 1 if len(run_id) else 0, -1, np.int64)
        first_b[run_id[b_pos][::-1]] = b_pos[::-1]  # smallest position wins
        anchor = first_b[run_id]
        has = (anchor >= 0) & (anchor != np.arange(len(keys)))
        src, dst = owners[has], owners[anchor[has]]
    graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1]


def brute_force_groups(ids, codes: np.ndarray, radius: int) -> list[list[int]]:
    """Quadratic oracle: union-find over all pairs with Hamming distance <= radius."""
    ids = np.asarray(ids, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int32)
    parent = list(range(len(ids)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dist = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    for i, j in zip(*np.nonzero(np.triu(dist <= radius, 1))):
        parent[find(i)] = find(j)
    by_root: dict[int, list[int]] = {}
    for i in range(len(ids)):
        by_root.setdefault(find(i), []).append(int(ids[i]))
    return sorted((sorted(g) for g in by_root.values() if len(g) > 1), key=lambda g: g[0])


def synthetic_near_copies(n: int, bits: int = 32, cluster: int = 5, flips: int = 2, seed: int = 0):
    """``(ids, codes)``: random centres, each with ``cluster - 1`` copies at 0..``flips`` bit
    flips (a realistic archive of re-encoded/overlapping images), shuffled."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2, size=(max(1, n // cluster), bits), dtype=np.uint8)
    codes = np.repeat(centres, cluster, axis=0)[:n]
    if len(codes) < n:
        codes = np.vstack([codes, rng.integers(0, 2, size=(n - len(codes), bits), dtype=np.uint8)])
    copies = np.arange(n) % cluster != 0
    for _ in range(flips):
        flip = copies & (rng.random(n) < 0.5)
        pos = rng.integers(0, bits, size=n)
        codes[flip, pos[flip]] ^= 1
    perm = rng.permutation(n)
    return np.arange(1, n + 1, dtype=np.int64), codes[perm]
