"""create_app: encoder/index compatibility, archives without labels, models without attention."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.web.app import create_app
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import build_index, make_archive


@pytest.fixture()
def small_archive(tmp_path):
    return make_archive(tmp_path / "archive")


def test_fingerprint_mismatch_is_refused(small_archive, tmp_path):
    index_path, index = build_index(small_archive, tmp_path / "index", FakeEncoder(run_dir=tmp_path))
    other = FakeEncoder(run_dir=tmp_path)
    other.fingerprint = {**other.fingerprint, "weights_sha256": "f" * 64}
    with pytest.raises(IndexStoreError, match="weights_sha256"):
        create_app(index_path, encoder=other, index=index)


def test_bit_length_mismatch_is_refused(small_archive, tmp_path):
    index_path, index = build_index(small_archive, tmp_path / "index", FakeEncoder(run_dir=tmp_path))
    other = FakeEncoder(run_dir=tmp_path)
    other.bits = 32
    with pytest.raises(IndexStoreError, match="16-bit"):
        create_app(index_path, encoder=other, index=index)


def test_quantizer_runs_are_refused(small_archive, tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path)
    index_path, index = build_index(small_archive, tmp_path / "index", encoder)
    encoder.retrieval = "aqd"
    with pytest.raises(ConfigError, match="asymmetric quantizer"):
        create_app(index_path, encoder=encoder, index=index)


def test_missing_index_is_a_user_error(tmp_path):
    with pytest.raises(IndexStoreError):
        create_app(tmp_path / "nowhere", encoder=FakeEncoder())


def test_unlabelled_archive_and_model_without_attention(small_archive, tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path, attention_fails=True)
    index_path, index = build_index(small_archive, tmp_path / "index", encoder, labelled=False)
    with TestClient(create_app(index_path, encoder=encoder, index=index), base_url="http://localhost") as client:
        assert client.get("/api/labels").json() == {"labels": [], "counts": {}}
        item_id = client.get("/api/random").json()["id"]
        body = client.post("/api/search", data={"item_id": str(item_id), "k": "3"}).json()
        assert len(body["results"]) == 3
        assert body["precision"] is None and body["query"]["labels"] is None
        assert all(r["labels"] is None and r["shared_labels"] == [] for r in body["results"])
        assert body["attention_url"] is None
        missing = client.get(f"/api/items/{item_id}/attention")
        assert missing.status_code == 400 and "no CBAM" in missing.json()["detail"]
        refused = client.post("/api/search", data={"item_id": str(item_id), "labels": "water"})
        assert refused.status_code == 400 and "no labels" in refused.json()["detail"]


def test_app_opens_index_itself_readonly_and_closes_it(small_archive, tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path)
    index_path, index = build_index(small_archive, tmp_path / "index", encoder)
    if index is not None:
        pytest.skip("the real CodeIndex is not available yet")
    app = create_app(index_path, encoder=encoder)
    with TestClient(app, base_url="http://localhost") as client:
        assert client.get("/api/health").json()["size"] == len(small_archive.paths)
        buffer = io.BytesIO()
        Image.open(small_archive.paths[2]).save(buffer, format="PNG")
        body = client.post("/api/search", files={"image": ("q.png", buffer.getvalue(), "image/png")}).json()
        assert body["results"][0]["distance"] == 0
    assert app.state.web.service.index.readonly
    with pytest.raises(IndexStoreError, match="index is closed"):  # connection gone
        app.state.web.service.index.get(1)  # closed at shutdown
