"""Query by image: Hamming ties re-ranked by the query's real-valued output; an archive
image searched by itself is its own first result (even when another item has its code)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from mlrsir.inference.search import search_by_image, search_code
from tests.fakes.encoder import FakeEncoder, fake_encoder, make_run, quadrant_code, write_image  # noqa: F401

R, G, W, K = (230, 10, 10), (10, 230, 10), (250, 250, 250), (5, 5, 5)
# "a0" and "a9" are different files with the same code (both red quadrants; a9 a darker red)
TILES = {
    "a0": [R, R, R, R],
    "a1": [G, G, G, G],
    "a2": [W, W, W, W],
    "a3": [K, K, K, K],
    "a9": [(200, 40, 40)] * 4,
}


def _build(tmp_path):
    images = tmp_path / "images"
    for name, colours in TILES.items():
        write_image(images / f"{name}.png", colours, fmt="PNG")
    run = make_run(tmp_path / "run")
    ix = tmp_path / "ix"
    argv = ["index", "build", "--run", str(run), "--images", str(images), "--index", str(ix), "--quiet"]
    assert main(argv) == 0
    return images, run, ix


def test_archive_image_searched_by_itself_comes_first(tmp_path, fake_encoder, capsys):
    images, run, ix = _build(tmp_path)
    query = images / "a9.png"
    with CodeIndex.open(ix, readonly=True) as index:
        ids = index.ids_for_paths([str(p) for p in sorted(images.glob("*.png"))])
        by_id = {v: k for k, v in ids.items()}
        assert np.array_equal(index.codes(ids=[ids[str(images / "a0.png")]]), index.codes(ids=[ids[str(query)]]))
        image = Image.open(query).convert("RGB")
        # plain Hamming order: the two identical codes tie at distance 0 and a0 (lower id) wins
        plain = search_code(index, quadrant_code(image)[0], k=3)
        assert plain[0]["distance"] == plain[1]["distance"] == 0 and plain[0]["path"].endswith("a0.png")
        rows = search_by_image(index, FakeEncoder(run), image, k=3, query_path=str(query))
        assert rows[0]["path"] == str(query) and by_id[rows[0]["id"]] == str(query)
        assert [r["distance"] for r in rows] == sorted(r["distance"] for r in rows)
    capsys.readouterr()
    assert main(["search", "--index", str(ix), "--query", str(query), "--k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["path"] == str(query)


def test_hamming_ties_are_broken_by_the_asymmetric_score(tmp_path, fake_encoder):
    _, _, ix = _build(tmp_path)
    with CodeIndex.open(ix, readonly=True) as index:
        ids = [int(i) for i in index.ids()]
        codes = index.codes(ids=ids)
        # a query whose code is at Hamming distance 1 from several items; h says which bit is sure
        target = codes[0].copy()
        h = np.where(target == 1, 0.9, -0.9).astype(np.float32)
        flip = np.flatnonzero(np.ones_like(target))[:2]
        h[flip[0]] = -0.05 if target[flip[0]] else 0.05  # unsure about this bit
        code = (h > 0).astype(np.uint8)
        rows = search_code(index, code, k=len(ids), query_output=h)
        dists = [r["distance"] for r in rows]
        assert dists == sorted(dists)  # Hamming order kept
        scores = -(h @ (2.0 * index.codes(ids=[r["id"] for r in rows]).T - 1.0))
        for a, b in zip(range(len(rows)), range(1, len(rows))):
            if dists[a] == dists[b]:
                assert scores[a] <= scores[b] + 1e-12
