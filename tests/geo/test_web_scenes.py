"""Web API on an index of scene tiles: geo in results, search at a point, bbox, quick-looks,
tile thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from affine import Affine
from PIL import Image

from mlrsir.index.scenes import encode_scenes_into_index
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import make_run

from .conftest import write_raster
from .test_index_scenes import PixelHashEncoder


@pytest.fixture(scope="module")
def scene_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from mlrsir.web.app import create_app

    root = tmp_path_factory.mktemp("webscene")
    folder = root / "S2A_MSIL1C_20200315T101021_web"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for band in ("B02", "B03", "B04"):
        write_raster(
            folder / f"T31_{band}.tif",
            rng.integers(1, 3000, (96, 128), dtype=np.uint16),
            Affine(10, 0, 500000, 0, -10, 4000000),
        )
    encoder = PixelHashEncoder(make_run(root / "run"))
    index = CodeIndex.create(
        root / "ix", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=None
    )
    summary = encode_scenes_into_index(index, encoder, [folder], tile=32, progress=False, log=lambda *_: None)
    assert summary["tiles_added"] == 12
    geo = {i: g for i, g in index.geo_items()}
    index.close()
    app = create_app(root / "ix", encoder=encoder)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, geo


def _centre(geo):
    b = geo["lonlat_bounds"]
    return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]


def test_search_at_returns_the_tile_with_geo_and_scene(scene_client):
    client, geo = scene_client
    body = client.post("/api/search", json={"at": _centre(geo[6]), "k": 4, "attention": False}).json()
    first = body["results"][0]
    assert first["id"] == 6 and first["distance"] == 0 and body["query"]["item_id"] == 6
    assert first["geo"]["window"] == geo[6]["window"] and first["geo"]["crs"] == "EPSG:32618"
    assert body["query"]["geo"]["scene"] == "S2A_MSIL1C_20200315T101021_web"
    assert first["scene"]["width"] == 128 and first["scene"]["height"] == 96
    png = client.get(first["scene"]["quicklook_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (128, 96)


def test_search_at_form_field_and_errors(scene_client):
    client, geo = scene_client
    lon, lat = _centre(geo[1])
    body = client.post("/api/search", data={"at": f"{lon},{lat}", "attention": "false"}).json()
    assert body["results"][0]["id"] == 1
    missing = client.post("/api/search", json={"at": [10.0, 50.0]})
    assert missing.status_code == 400 and "no indexed tile contains" in missing.json()["detail"]
    both = client.post("/api/search", json={"at": [lon, lat], "item_id": 1})
    assert both.status_code == 400
    assert client.post("/api/search", json={"at": [lon]}).status_code == 422


def test_bbox_filter(scene_client):
    client, geo = scene_client
    b = geo[1]["lonlat_bounds"]
    box = [b[0] + 1e-5, b[1] + 1e-5, b[0] + 2e-5, b[1] + 2e-5]
    body = client.post("/api/search", json={"item_id": 5, "bbox": box, "k": 12, "attention": False}).json()
    assert [r["id"] for r in body["results"]] == [1]


def test_tile_thumbnail_and_image(scene_client):
    client, _ = scene_client
    thumb = client.get("/api/items/3/thumbnail")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (32, 32)
    image = client.get("/api/items/3/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert client.get("/api/scenes/nope/quicklook.png").status_code == 404
