"""``mlrsir serve`` command line: host safety, wiring of index, encoder and uvicorn."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlrsir.cli.main import main
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import build_index, make_archive


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """Build a real index, make the app load the fake encoder, capture uvicorn.run's arguments."""
    encoder = FakeEncoder(run_dir=tmp_path / "run")
    index_path, index = build_index(make_archive(tmp_path / "archive"), tmp_path / "index", encoder)
    if index is not None:
        pytest.skip("the real CodeIndex is not available yet")
    loaded = []
    monkeypatch.setattr("mlrsir.web.app._load_encoder", lambda run_dir: loaded.append(run_dir) or encoder)
    calls = []
    monkeypatch.setattr("mlrsir.web.server.serve", lambda app, **kw: calls.append((app, kw)))
    return index_path, encoder, loaded, calls


def test_help_mentions_the_remote_flag(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--allow-remote" in out and "127.0.0.1" in out


def test_non_loopback_host_needs_allow_remote(served, capsys):
    index_path, _, _, calls = served
    assert main(["serve", "--index", str(index_path), "--host", "0.0.0.0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert calls == []


def test_serve_defaults_to_loopback_and_loads_encoder_from_index(served):
    index_path, encoder, loaded, calls = served
    assert main(["serve", "--index", str(index_path), "--port", "8123", "--max-upload-mb", "1"]) == 0
    ((app, kwargs),) = calls
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8123
    assert [str(p) for p in loaded] == [str(encoder.run_dir)]
    with TestClient(app, base_url="http://localhost") as client:
        health = client.get("/api/health").json()
    assert health["fingerprint"] == encoder.fingerprint and health["max_upload_bytes"] == 1024 * 1024


def test_allow_remote_binds_other_host(served):
    index_path, _, _, calls = served
    assert main(["serve", "--index", str(index_path), "--host", "0.0.0.0", "--allow-remote"]) == 0
    assert calls[0][1]["host"] == "0.0.0.0"


def test_fingerprint_mismatch_exits_2(served, monkeypatch, capsys):
    index_path, encoder, _, calls = served
    other = FakeEncoder(run_dir=encoder.run_dir)
    other.fingerprint = {**encoder.fingerprint, "method": "another"}
    monkeypatch.setattr("mlrsir.web.app._load_encoder", lambda run_dir: other)
    assert main(["serve", "--index", str(index_path)]) == 2
    assert "method" in capsys.readouterr().err and calls == []


def test_missing_index_exits_2(tmp_path, capsys):
    assert main(["serve", "--index", str(tmp_path / "none")]) == 2
    assert "mlrsir: error:" in capsys.readouterr().err
