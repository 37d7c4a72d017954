"""Issue 24 item 5: scene ids unique per source and URL-safe (two ``scene.tif`` in different
folders, a STAC id with ``/``): every result's quick-look link answers with its own scene."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from affine import Affine
from PIL import Image

from mlrsir.geo.archive import scene_key
from mlrsir.index.scenes import encode_scenes_into_index
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import make_run

from .conftest import write_raster
from .test_index_scenes import PixelHashEncoder


def test_scene_key_is_url_safe_and_unique_per_source():
    a, b = scene_key("scene", "/x/a/scene.tif"), scene_key("scene", "/x/b/scene.tif")
    assert a != b and a.startswith("scene-") and len(a) == len("scene-") + 8
    slashed = scene_key("S2/2021/tile", "/x/item.json")
    assert "/" not in slashed and slashed.startswith("S2_2021_tile-")


@pytest.fixture(scope="module")
def three_scenes(tmp_path_factory):
    from fastapi.testclient import TestClient

    from mlrsir.web.app import create_app

    root = tmp_path_factory.mktemp("sceneids")
    sizes = {"a": (64, 96), "b": (32, 64), "stac": (64, 32)}
    sources = []
    for name, (h, w) in sizes.items():
        (root / name).mkdir()
        data = np.random.default_rng(len(name)).integers(1, 3000, (3, h, w), dtype=np.uint16)
        tif = write_raster(root / name / "scene.tif", data, Affine(10, 0, 500000, 0, -10, 4000000))
        sources.append(tif)
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2/2021/item",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2021-06-01T10:20:30Z"},
        "links": [],
        "assets": {"data": {"href": "scene.tif", "type": "image/tiff; application=geotiff", "roles": ["data"]}},
    }
    (root / "stac" / "item.json").write_text(json.dumps(item))
    sources[2] = root / "stac" / "item.json"
    encoder = PixelHashEncoder(make_run(root / "run"))
    index = CodeIndex.create(
        root / "ix", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=None
    )
    encode_scenes_into_index(index, encoder, sources, tile=32, progress=False, log=lambda *_: None)
    count = len(index)
    index.close()
    app = create_app(root / "ix", encoder=encoder)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, count, {(h, w) for h, w in sizes.values()}


def test_every_scene_quicklook_link_works(three_scenes):
    client, count, sizes = three_scenes
    body = client.post("/api/search", json={"item_id": 1, "k": count, "attention": False}).json()
    assert "results" in body, body
    assert all(r["scene"] for r in body["results"]), [(r["path"], r["geo"]) for r in body["results"] if not r["scene"]]
    refs = {r["scene"]["id"]: r["scene"] for r in body["results"]}
    assert len(refs) == 3
    seen = set()
    for ref in refs.values():
        png = client.get(ref["quicklook_url"])
        assert png.status_code == 200, ref
        w, h = Image.open(io.BytesIO(png.content)).size
        assert (w, h) == (ref["width"], ref["height"])
        seen.add((h, w))
    assert seen == sizes
    assert {r["name"] for r in refs.values()} == {"scene", "S2/2021/item"}


def test_bare_scene_name_still_answers_when_unique(three_scenes):
    client, _, _ = three_scenes
    assert client.get("/api/scenes/nope/quicklook.png").status_code == 404
    # "scene" names two scenes: ambiguous, so not found rather than the wrong one
    assert client.get("/api/scenes/scene/quicklook.png").status_code == 404
