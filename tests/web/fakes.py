"""Web test doubles: pattern images and an in-memory CodeIndex.

The encoder double is :class:`tests.fakes.encoder.FakeEncoder` (shared with the index
tests); in its default setting bit ``4*r + c`` is 1 where block ``(r, c)`` of the grey
image is brighter than 127, so images made by :func:`pattern_image` (white/black 4x4
block patterns) encode exactly to their pattern.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FAKE_BITS = 16
"""Code length of :class:`tests.fakes.encoder.FakeEncoder` in its default setting."""


def pattern_image(bits: list[int], size: int = 64, tint: tuple[int, int, int] = (0, 0, 0)) -> Image.Image:
    """RGB image of 4x4 blocks: block ``i`` (row-major) white where ``bits[i]`` is 1, else dark."""
    grid = np.array(bits, dtype=np.uint8).reshape(4, 4)
    block = size // 4
    arr = np.kron(grid, np.ones((block, block), dtype=np.uint8)) * 255
    rgb = np.stack([arr] * 3, axis=-1).astype(np.int16)
    rgb[arr == 0] += np.array(tint, dtype=np.int16)  # dark blocks may be tinted (< 128 keeps bit 0)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


class FakeIndex:
    """In-memory ``CodeIndex`` double (exact search ranked by (distance, id))."""

    def __init__(self, bits, fingerprint, run_dir=None, classes=None):
        self.bits = bits
        self.fingerprint = fingerprint
        self.run_dir = run_dir
        self.classes = classes
        self._records: dict[int, dict] = {}
        self._codes: dict[int, np.ndarray] = {}
        self._next = 0
        self.closed = False

    def __len__(self):
        return len(self._records)

    def add(self, records, codes):
        ids = []
        for record, code in zip(records, np.asarray(codes, dtype=np.uint8)):
            item_id = self._next
            self._next += 1
            self._records[item_id] = {"id": item_id, **record}
            self._codes[item_id] = code.copy()
            ids.append(item_id)
        return ids

    def get(self, item_id):
        return dict(self._records[int(item_id)])

    def ids(self):
        return np.array(sorted(self._records), dtype=np.int64)

    def codes(self, ids=None):
        ids = self.ids() if ids is None else ids
        return np.stack([self._codes[int(i)] for i in ids])

    def search(self, query_codes, k=20, radius=None, backend="auto", label_filter=None):
        out = []
        for q in np.asarray(query_codes, dtype=np.uint8):
            hits = []
            for item_id in self.ids():
                labels = set(self._records[int(item_id)].get("labels") or [])
                if label_filter and not set(label_filter) <= labels:
                    continue
                dist = int(np.count_nonzero(self._codes[int(item_id)] != q))
                if radius is None or dist <= radius:
                    hits.append((int(item_id), dist))
            hits.sort(key=lambda h: (h[1], h[0]))
            out.append(hits[:k] if k else hits)
        return out

    def random_id(self, rng=None):
        rng = rng or np.random.default_rng()
        return int(rng.choice(self.ids()))

    def info(self):
        return {"size": len(self), "bits": self.bits}

    def close(self):
        self.closed = True
