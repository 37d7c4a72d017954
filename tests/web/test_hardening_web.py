"""Issue 24, web side (items 10-14): strict ids, the label checks on every label route, one
error shape with the input never echoed in full, GeoTIFF chip uploads read as the CLI reads
them, decompression bombs answered 413, the place box only on a georeferenced index."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from PIL import Image

from tests.web.conftest import VOCAB, build_index

SRC = Path(__file__).resolve().parents[2] / "src" / "mlrsir" / "web"


def _short_error(response, status: int) -> str:
    """The body is the documented ``{"detail": str}`` and holds no echoed multi-kB input."""
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), response.text[:300]
    assert len(response.content) < 4000, len(response.content)
    return body["detail"]


# ---------------------------------------------------------------------------- item 10
@pytest.mark.parametrize(
    "body",
    [
        {"relevant": [2**63]},
        {"item_id": 1, "nonrelevant": [2**64 + 5]},
        {"item_id": 2**63},
        {"item_id": True},
        {"relevant": [True]},
        {"item_id": 1, "k": True},
    ],
)
def test_feedback_ids_out_of_range_or_boolean_are_422(client, body):
    detail = _short_error(client.post("/api/search/feedback", json={"k": 3, **body}), 422)
    assert any(key in detail for key in ("item_id", "relevant", "nonrelevant", "k"))


def test_feedback_with_largest_valid_id_is_a_clear_error_not_500(client):
    r = client.post("/api/search/feedback", json={"relevant": [2**63 - 1], "k": 3})
    assert "no indexed item" in _short_error(r, 400)


# ---------------------------------------------------------------------------- item 11 (labelled index)
def test_feedback_unknown_label_is_400_naming_known_labels(client):
    r = client.post("/api/search/feedback", json={"item_id": 1, "k": 3, "labels": ["nosuchlabel"]})
    detail = _short_error(r, 400)
    assert "nosuchlabel" in detail and "known labels: " + ", ".join(VOCAB) in detail


def test_filter_source_unknown_label_is_400(client):
    r = client.get("/api/labels/filter-source", params=[("labels", "nosuchlabel")])
    assert "known labels" in _short_error(r, 400)
    ok = client.get("/api/labels/filter-source", params=[("labels", "Water")])  # matched like label files
    assert ok.status_code == 200 and ok.json()["labels"] == ["water"]


def test_label_search_unknown_label_names_known_ones(client):
    r = client.post("/api/search/labels", json={"labels_query": ["nosuchlabel"]})
    assert "known labels" in _short_error(r, 400)


# ---------------------------------------------------------------------------- item 12
@pytest.mark.parametrize(
    ("method", "url", "kwargs"),
    [
        ("post", "/api/search/labels", {"json": {"labels_query": "water"}}),
        ("post", "/api/search/labels", {"json": {"labels_query": ["water"], "mode": "some"}}),
        ("post", "/api/search/feedback", {"json": {"item_id": "x"}}),
        ("post", "/api/search/feedback", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("get", "/api/labels/filter-source", {}),
    ],
)
def test_validation_errors_have_the_one_error_shape(client, method, url, kwargs):
    _short_error(getattr(client, method)(url, **kwargs), 422)


@pytest.fixture(scope="module")
def big_body_client(archive, encoder, tmp_path_factory):
    from fastapi.testclient import TestClient

    from mlrsir.web.app import create_app

    index_path, index = build_index(archive, tmp_path_factory.mktemp("big") / "index", encoder)
    app = create_app(index_path, encoder=encoder, index=index, max_upload_bytes=10 * 2**20)
    with TestClient(app, base_url="http://localhost") as test_client:
        yield test_client


def test_huge_id_list_gets_a_short_reply(big_body_client):
    body = json.dumps({"item_id": 1, "relevant": list(range(10**6)), "k": 3}).encode()
    assert len(body) > 6_000_000
    r = big_body_client.post("/api/search/feedback", content=body, headers={"content-type": "application/json"})
    assert "relevant" in _short_error(r, 422)


def test_megabyte_label_is_not_echoed(big_body_client):
    label = "x" * 10**6
    detail = _short_error(big_body_client.post("/api/search", json={"item_id": 1, "labels": [label]}), 400)
    assert "unknown label" in detail and "1000000 characters" in detail
    _short_error(big_body_client.post("/api/search/labels", json={"labels_query": [label]}), 422)
    _short_error(big_body_client.post("/api/search/feedback", json={"item_id": 1, "labels": [label]}), 422)
    r = big_body_client.get("/api/labels/filter-source", params=[("labels", "y" * 30_000)])
    _short_error(r, 400)


# ---------------------------------------------------------------------------- item 14 (web)
def _png(size) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("size", [(150, 100), (300, 300)])  # Pillow's warning zone, and past twice its limit
def test_decompression_bombs_are_413_whatever_their_size(client, monkeypatch, size):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    r = client.post("/api/search", files={"image": ("bomb.png", _png(size), "image/png")})
    assert "too large" in _short_error(r, 413)


def test_place_box_hidden_without_georeferenced_items(client):
    health = client.get("/api/health").json()
    assert health["georeferenced"] is False
    r = client.post("/api/search", json={"at": [10.0, 50.0]})
    detail = _short_error(r, 400)
    assert "no georeferenced item" in detail and "LON,LAT order" not in detail
    html = (SRC / "static" / "index.html").read_text()
    assert '<form id="at-form" class="at-form" novalidate hidden>' in html
    assert "el.atForm.hidden = !h.georeferenced" in (SRC / "static" / "app.js").read_text()


# ---------------------------------------------------------------------------- scene index (items 11, 13, 14)
@pytest.fixture(scope="module")
def scene_index(tmp_path_factory):
    """One 3-band uint16 georeferenced GeoTIFF (128 x 96) tiled at 32 px into an index that
    records the model's classes but holds no labels (as ``index build`` on scenes does)."""
    from mlrsir.index.scenes import encode_scenes_into_index
    from mlrsir.index.store import CodeIndex
    from tests.fakes.encoder import make_run
    from tests.geo.conftest import write_raster
    from tests.geo.test_index_scenes import PixelHashEncoder

    root = tmp_path_factory.mktemp("chipscene")
    rng = np.random.default_rng(11)
    pixels = rng.integers(1, 3000, (3, 96, 128), dtype=np.uint16)
    transform = Affine(10, 0, 500000, 0, -10, 4000000)
    scene = write_raster(root / "S2B_scene.tif", pixels, transform)
    encoder = PixelHashEncoder(make_run(root / "run"), classes=VOCAB)
    index = CodeIndex.create(
        root / "ix", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=VOCAB
    )
    summary = encode_scenes_into_index(index, encoder, [scene], tile=32, progress=False, log=lambda *_: None)
    assert summary["tiles_added"] == 12
    windows = {i: g["window"] for i, g in index.geo_items()}
    index.close()
    return root, encoder, pixels, transform, windows


@pytest.fixture(scope="module")
def scene_client(scene_index):
    from fastapi.testclient import TestClient

    from mlrsir.web.app import create_app

    root, encoder, *_ = scene_index
    with TestClient(create_app(root / "ix", encoder=encoder), base_url="http://localhost") as test_client:
        yield test_client


def _geotiff_chip(tmp_path, pixels, transform, window, dtype=np.uint16) -> bytes:
    from tests.geo.conftest import write_raster

    c, r, w, h = window
    chip = pixels[:, r : r + h, c : c + w].astype(dtype)
    path = write_raster(tmp_path / "chip.tif", chip, transform @ Affine.translation(c, r))
    return path.read_bytes()


def test_geotiff_chip_upload_found_at_distance_zero(scene_client, scene_index, tmp_path):
    _root, _encoder, pixels, transform, windows = scene_index
    target = 6
    data = _geotiff_chip(tmp_path, pixels, transform, windows[target])
    r = scene_client.post("/api/search", files={"image": ("chip.tif", data, "image/tiff")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"][0]["id"] == target and body["results"][0]["distance"] == 0
    assert (body["query"]["width"], body["query"]["height"]) == (32, 32)
    assert str(tmp_path) not in r.text and "mlrsir-upload-" not in r.text


def test_corrupt_tiff_upload_names_the_upload(scene_client):
    data = b"II*\x00" + b"\x00" * 200
    detail = _short_error(scene_client.post("/api/search", files={"image": ("bad.tif", data, "image/tiff")}), 400)
    assert "bad.tif" in detail and "mlrsir-upload-" not in detail


def test_uint16_raster_upload_on_an_index_without_radiometry_says_why(client, tmp_path):
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 4000, (3, 40, 40), dtype=np.uint16)
    data = _geotiff_chip(tmp_path, pixels, Affine(10, 0, 500000, 0, -10, 4000000), (0, 0, 40, 40))
    detail = _short_error(client.post("/api/search", files={"image": ("c.tif", data, "image/tiff")}), 400)
    assert "c.tif" in detail and "radiometry" in detail


def test_unlabelled_scene_index_has_no_usable_labels(scene_client):
    assert scene_client.get("/api/labels").json() == {"labels": [], "counts": {}}
    assert scene_client.get("/api/health").json()["num_labels"] == 0
    detail = _short_error(scene_client.post("/api/search/labels", json={"labels_query": ["water"]}), 400)
    assert "no labels" in detail and "mlrsir labels predict" in detail
    r = scene_client.get("/api/labels/filter-source", params=[("labels", "water")])
    assert "no labels" in _short_error(r, 400)
    r = scene_client.post("/api/search/feedback", json={"item_id": 1, "labels": ["water"]})
    assert "no labels" in _short_error(r, 400)
    r = scene_client.post("/api/search", json={"item_id": 1, "labels": ["water"]})
    assert "no labels" in _short_error(r, 400)
    assert scene_client.post("/api/search/feedback", json={"item_id": 1, "k": 2}).status_code == 200


def test_place_box_shown_on_a_georeferenced_index(scene_client):
    assert scene_client.get("/api/health").json()["georeferenced"] is True
