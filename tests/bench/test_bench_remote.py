"""``mlrsir bench remote`` end to end on a generated scene (small options: seconds)."""

from __future__ import annotations

import pytest

from mlrsir.cli.main import main


def test_bench_remote_prints_every_figure(tmp_path, capsys, monkeypatch):
    pytest.importorskip("moto.server", reason="moto[server] (test extra) is not installed")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_S3_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    args = ["bench", "remote", "--scene", str(tmp_path / "absent"), "--tile", "512", "--repeats", "1"]
    assert main([*args, "--io-workers", "1", "--latency-ms", "0", "--items", "2", "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["scene"].startswith("generated 2048 x 2048 px scene")
    rows = result["sources"]
    assert set(rows) == {f"{source}, io-workers {n}" for source in ("local", "http", "s3") for n in (1,)}
    for name, row in rows.items():
        assert row["tiles"] == 16 and row["tiles_per_s"] > 0, name
        if not name.startswith("local"):
            assert row["codes_identical"] is True, name
    assert 0 < result["quarter"]["fraction"] < 0.4 and result["quarter"]["tiles"] == 4
    assert [r["items"] for r in result["rss"]] == [2] and result["rss"][0]["tiles"] == 2 * 1
