"""Crafted but well-formed requests and hostile ``Host`` headers (issue 10, items 2 and 3).

Every request here must get a 4xx with a message, never a 500; the property-based test
throws arbitrary JSON and form bodies at ``/api/search``.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import VOCAB, build_index, make_archive

HUGE = "99999999999999999999"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    archive = make_archive(tmp_path_factory.mktemp("archive"))
    encoder = FakeEncoder(run_dir=tmp_path_factory.mktemp("run"), classes=VOCAB)
    index_path, index = build_index(archive, tmp_path_factory.mktemp("idx") / "index", encoder)
    return index_path, index, encoder


@pytest.fixture(scope="module")
def client(built):
    from mlrsir.web.app import create_app

    index_path, index, encoder = built
    app = create_app(index_path, encoder=encoder, index=index, max_upload_bytes=2_000_000)
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def _detail(response) -> str:
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    return body["detail"]


# ---------------------------------------------------------------------------- item 2
@pytest.mark.parametrize("suffix", ["", "/thumbnail", "/image"])
def test_huge_item_id_in_path_is_404(client, suffix):
    for value in (HUGE, str(2**63), str(2**63 - 1)):
        response = client.get(f"/api/items/{value}{suffix}")
        assert response.status_code == 404, (value, response.text)
        assert "no indexed item" in _detail(response)


@pytest.mark.parametrize("value", [2**63, 10**20, -(2**63) - 1])
def test_huge_item_id_in_json_is_422(client, value):
    response = client.post("/api/search", content=json.dumps({"item_id": value}), headers=_json())
    assert response.status_code == 422, response.text
    assert "item_id" in _detail(response)


def test_huge_item_id_in_form_and_query_is_422(client):
    assert client.post("/api/search", data={"item_id": HUGE}).status_code == 422
    assert client.post(f"/api/search?item_id={HUGE}").status_code == 422


def test_boolean_item_id_is_refused(client):
    for body in ({"item_id": True}, {"item_id": 1, "k": True}, {"item_id": 1, "radius": False}):
        response = client.post("/api/search", json=body)
        assert response.status_code == 422, (body, response.text)


def test_non_string_labels_are_422(client):
    for labels in ([1, 2], [None], [{"a": 1}], 5, {"x": "water"}):
        response = client.post("/api/search", json={"item_id": 1, "labels": labels})
        assert response.status_code == 422, (labels, response.text)
        assert "labels" in _detail(response)


def test_deeply_nested_json_is_400(client):
    depth = 200_000
    body = b"[" * depth + b"]" * depth
    response = client.post("/api/search", content=body, headers=_json())
    assert response.status_code == 400, response.text
    assert "nested" in _detail(response)
    nested_object = b'{"item_id": 1, "k": ' + b"[" * depth + b"]" * depth + b"}"
    assert client.post("/api/search", content=nested_object, headers=_json()).status_code == 400


def test_truncated_multipart_is_malformed(client):
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="q.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    for body in (head + b"\x89PNG\r\n\x1a\n partial", head[:30], f"--{boundary}\r\n".encode()):
        response = client.post(
            "/api/search", content=body, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
        )
        assert response.status_code == 400, (body, response.text)
        assert "malformed" in _detail(response), response.text


def test_cli_remove_huge_id_is_a_clean_error(built, tmp_path, capsys):
    index_path, _, encoder = built
    CodeIndex.open(index_path).close()
    with pytest.raises(SystemExit) as raised:
        main(["index", "remove", "--index", str(index_path), "--ids", HUGE])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "--ids" in err and "Traceback" not in err


def _json() -> dict:
    return {"content-type": "application/json"}


_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
_json_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
_keys = st.sampled_from(["item_id", "k", "radius", "labels", "include_self", "attention", "image", "x"]) | st.text(
    max_size=10
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.dictionaries(_keys, _json_values, max_size=6).map(lambda d: ("json", d)),
        _json_values.map(lambda v: ("json", v)),
        st.lists(st.tuples(_keys, st.text(max_size=30)), max_size=6).map(lambda f: ("form", f)),
        st.binary(max_size=200).map(lambda b: ("raw-json", b)),
        st.binary(max_size=200).map(lambda b: ("raw-multipart", b)),
    )
)
def test_search_never_answers_5xx(client, body):
    kind, payload = body
    if kind == "json":
        response = client.post("/api/search", content=json.dumps(payload).encode(), headers=_json())
    elif kind == "form":
        response = client.post("/api/search", data=payload)
    elif kind == "raw-json":
        response = client.post("/api/search", content=payload, headers=_json())
    else:
        response = client.post(
            "/api/search", content=payload, headers={"content-type": "multipart/form-data; boundary=xyz"}
        )
    assert response.status_code < 500, (payload, response.text)
    if response.status_code >= 400:
        _detail(response)


# ---------------------------------------------------------------------------- item 3
@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8000", "127.0.0.1", "127.0.0.1:8000", "[::1]", "[::1]:8000", "LOCALHOST"]
)
def test_loopback_host_headers_are_served(client, host):
    assert client.get("/api/health", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io", "", "[::2]:80"]
)
def test_other_host_headers_are_400(client, host):
    response = client.get("/api/health", headers={"host": host})
    assert response.status_code == 400, response.text
    assert "host" in _detail(response).lower()
    assert client.post("/api/search", json={"item_id": 1}, headers={"host": host}).status_code == 400


def test_allowed_hosts_option_of_create_app(built):
    from mlrsir.web.app import create_app

    index_path, index, encoder = built
    app = create_app(index_path, encoder=encoder, index=index, allowed_hosts=["search.lab.example"])
    with TestClient(app, base_url="http://search.lab.example") as client:
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/health", headers={"host": "localhost:1"}).status_code == 200
        assert client.get("/api/health", headers={"host": "other.example"}).status_code == 400


def test_serve_allow_host_and_bound_address(tmp_path, monkeypatch):
    encoder = FakeEncoder(run_dir=tmp_path / "run")
    index_path, _ = build_index(make_archive(tmp_path / "archive"), tmp_path / "index", encoder)
    monkeypatch.setattr("mlrsir.web.app._load_encoder", lambda run_dir, *args, **kw: encoder)
    calls = []
    monkeypatch.setattr("mlrsir.web.server.serve", lambda app, **kw: calls.append(app))
    argv = ["serve", "--index", str(index_path), "--allow-host", "maps.example", "--allow-host", "b.example"]
    assert main(argv) == 0
    assert main([*argv, "--host", "10.1.2.3", "--allow-remote"]) == 0
    for app, good, bad in (
        (calls[0], ["maps.example:8000", "b.example", "localhost"], ["10.1.2.3", "evil.example"]),
        (calls[1], ["10.1.2.3:8000", "maps.example", "127.0.0.1"], ["evil.example"]),
    ):
        with TestClient(app, base_url="http://localhost") as client:
            for host in good:
                assert client.get("/api/health", headers={"host": host}).status_code == 200, host
            for host in bad:
                assert client.get("/api/health", headers={"host": host}).status_code == 400, host
