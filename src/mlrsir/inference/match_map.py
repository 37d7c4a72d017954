"""Where is the match: which parts of a hit tile make it similar to the query.

Occlusion (Zeiler and Fergus, 2014) on the asymmetric score: the hit image is cut into a
``grid`` x ``grid`` lattice; each cell in turn is filled with the image's mean colour and
the occluded image encoded. With the query's real-valued output ``q`` in [-1, 1]^bits (or
its code mapped to ±1) and the hit's tanh output ``h``, the similarity is ``<q, h>``; a
cell's value is the drop ``<q, h> - <q, h_cell>`` (positive = hiding this part makes the
hit less like the query). The map is the drops clipped at 0 and divided by their maximum
(all 0 when no cell lowers the similarity).

Cost: ``grid^2 + 1`` model passes of the hit (one batch; 17 at the default grid 4), e.g.
a few tens of ms for 100-px inputs on 2 cores. The map shows what the *model* relies on
for this pair, not ground truth; cells smaller than the model's receptive field blur it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mlrsir.errors import ConfigError

DEFAULT_GRID = 4


def occluded_views(image: Image.Image, grid: int) -> list[Image.Image]:
    """The ``grid^2`` copies of ``image`` with one cell (row-major) filled with its mean colour."""
    if not 1 <= int(grid) <= 16:
        raise ConfigError(f"grid must be 1..16, got {grid}")
    rgb = np.asarray(image.convert("RGB"))
    fill = rgb.reshape(-1, 3).mean(0).round().astype(np.uint8)
    height, width = rgb.shape[:2]
    rows = np.linspace(0, height, int(grid) + 1).round().astype(int)
    cols = np.linspace(0, width, int(grid) + 1).round().astype(int)
    views = []
    for i in range(int(grid)):
        for j in range(int(grid)):
            copy = rgb.copy()
            copy[rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = fill
            views.append(Image.fromarray(copy))
    return views


def match_map(encoder, hit: Image.Image, query: np.ndarray, grid: int = DEFAULT_GRID) -> dict:
    """``{"map": (grid, grid) float in [0, 1], "drops": (grid, grid) raw drops, "similarity": <q, h>}``.

    Args:
        encoder: anything with ``encode_images(list[PIL]) -> (codes, outputs (N, bits))``.
        hit: the hit tile as an image.
        query: ``(bits,)`` query output in [-1, 1] (or a code in {0, 1}, mapped to ±1).
    """
    q = np.asarray(query, dtype=np.float64).reshape(-1)
    if q.size and q.min() >= 0 and set(np.unique(q)) <= {0.0, 1.0}:
        q = 2.0 * q - 1.0
    _, outputs = encoder.encode_images([hit.convert("RGB"), *occluded_views(hit, grid)])
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.shape[1] != q.size:
        raise ConfigError(f"match map needs a hashing model's outputs ({outputs.shape[1]} values, query {q.size} bits)")
    scores = outputs @ q
    drops = (scores[0] - scores[1:]).reshape(int(grid), int(grid))
    positive = np.clip(drops, 0.0, None)
    top = positive.max()
    return {
        "map": (positive / top if top > 0 else positive).round(6),
        "drops": drops.round(6),
        "similarity": float(scores[0]),
        "forward_passes": int(grid) ** 2 + 1,
    }
