"""Attention maps off the hot path: cached per query, an upload's gate kept from its search.

The fake encoder counts model calls (``calls``: code passes, ``spatial_attention`` spied
here), so a test sees which requests ran the model; the cached and fresh PNGs are compared
byte for byte with the uncached renderer (``AttentionMaps.png``).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mlrsir.web.app import create_app
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import MAX_UPLOAD, VOCAB, build_index


@pytest.fixture
def counted(archive, tmp_path):
    """A fresh app (empty caches) whose encoder counts ``spatial_attention`` passes."""
    encoder = FakeEncoder(run_dir=tmp_path / "run", classes=VOCAB)
    encoder.attention_passes = 0
    fresh = encoder.spatial_attention

    def spied(image):
        encoder.attention_passes += 1
        return fresh(image)

    encoder.spatial_attention = spied
    index_path, index = build_index(archive, tmp_path / "index", encoder)
    app = create_app(index_path, encoder=encoder, index=index, max_upload_bytes=MAX_UPLOAD)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, encoder, app.state.web.service


def _png(path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def test_item_map_is_rendered_once_then_cached(counted, archive):
    client, encoder, service = counted
    item_id = client.get("/api/random").json()["id"]
    first = client.get(f"/api/items/{item_id}/attention")
    assert first.status_code == 200 and encoder.attention_passes == 1
    again = client.get(f"/api/items/{item_id}/attention")
    assert again.content == first.content and encoder.attention_passes == 1  # from the cache
    # the cached PNG is the one the uncached renderer makes
    assert first.content == service.attention.png(service.images.read(item_id))
    assert client.get("/api/items/999999/attention").status_code == 404


def test_upload_map_uses_the_gate_of_its_search(counted, archive):
    client, encoder, service = counted
    data = _png(archive.paths[3])
    files = {"image": ("q.png", data, "image/png")}
    assert client.post("/api/search", files=files).status_code == 200
    assert encoder.gates_made == 1  # the search's one model pass also gave the gate
    response = client.post("/api/attention", files=files)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert encoder.attention_passes == 0  # no second model pass
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert response.content == service.attention.png(image)  # same map as the fresh path
    assert encoder.attention_passes == 1  # (that reference ran the model)
    assert client.post("/api/attention", files=files).content == response.content


def test_upload_map_without_a_search_still_answers(counted, archive):
    client, encoder, service = counted
    data = _png(archive.paths[5])
    response = client.post("/api/attention", files={"image": ("never-searched.png", data, "image/png")})
    assert response.status_code == 200 and encoder.attention_passes == 1
    assert response.content == service.attention.png(Image.open(io.BytesIO(data)).convert("RGB"))


def test_kept_gates_round_trip_and_stay_bounded(counted):
    _client, _encoder, service = counted
    maps = service.attention
    gate = np.random.default_rng(0).random((1, 7, 7), dtype=np.float32)
    maps.gates.put("k", np.asarray([3, 1, 7, 7], np.int32).tobytes() + gate.tobytes())
    assert np.array_equal(maps.kept_gate("k"), gate) and maps.kept_gate("missing") is None
    assert maps.gates.max_items >= 1 and maps.pngs.max_bytes > 0


def test_model_without_attention_is_a_clear_400(archive, tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path / "run", classes=VOCAB, attention_fails=True)
    index_path, index = build_index(archive, tmp_path / "index", encoder)
    app = create_app(index_path, encoder=encoder, index=index, max_upload_bytes=MAX_UPLOAD)
    with TestClient(app, base_url="http://localhost") as client:
        data = _png(archive.paths[0])
        assert client.post("/api/search", files={"image": ("q.png", data, "image/png")}).status_code == 200
        response = client.post("/api/attention", files={"image": ("q.png", data, "image/png")})
        assert response.status_code == 400 and "no attention map" in response.json()["detail"]
