"""``mlrsir bench load`` against an in-thread uvicorn server (fake encoder, tiny archive).

The real run (``mlrsir serve`` subprocess over a UCM index, 16 clients, 5,000 requests) is
a benchmark command documented in docs/RELIABILITY.md, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import pytest

from mlrsir.bench import load as bench_load
from mlrsir.cli import bench as bench_cli
from mlrsir.localhost import free_port
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import VOCAB, build_index, make_archive


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from mlrsir.web.app import create_app

    archive = make_archive(tmp_path_factory.mktemp("archive"))
    encoder = FakeEncoder(run_dir=tmp_path_factory.mktemp("run"), classes=VOCAB)
    index_path, index = build_index(archive, tmp_path_factory.mktemp("idx") / "index", encoder)
    app = create_app(index_path, encoder=encoder, index=index)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started
    yield f"http://127.0.0.1:{port}", len(archive.paths)
    srv.should_exit = True
    thread.join(10)


def parse(*argv):
    parser = argparse.ArgumentParser()
    bench_cli.register(parser.add_subparsers())
    return parser.parse_args(["bench", "load", *argv])


def test_run_load_counts_and_latencies(server):
    url, n = server
    ids = bench_load.collect_ids(url, count=40)
    assert 1 <= len(ids) <= n
    result = bench_load.run_load(url, ids, clients=4, requests=120, duration_limit=60, k=5)
    assert result["requests_sent"] == 120 and result["ok"] == 120 and result["errors"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["throughput_rps"] > 0


def test_errors_are_counted(server):
    url, _ = server
    result = bench_load.run_load(url, [999_999], clients=2, requests=10, duration_limit=30)
    assert result["errors"] == 10 and result["ok"] == 0 and "HTTP 404" in result["error_examples"][0]


def test_duration_limit_bounds_the_run(server):
    url, _ = server
    ids = bench_load.collect_ids(url, count=10)
    t0 = time.perf_counter()
    result = bench_load.run_load(url, ids, clients=2, requests=10**9, duration_limit=0.5)
    assert time.perf_counter() - t0 < 10 and result["requests_sent"] < 10**9 and result["errors"] == 0


def test_command_with_url_reports_rss_and_uploads(server, capsys):
    url, _ = server
    args = parse(
        "--url",
        url,
        "--server-pid",
        str(os.getpid()),
        "--clients",
        "3",
        "--requests",
        "60",
        "--upload-fraction",
        "0.3",
        "--json",
        "--max-rss-growth-mib",
        "500",
    )
    assert bench_load.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["requests_sent"] == 60 and report["errors"] == 0 and report["passed"]
    assert report["uploads"] > 0 and report["rss_before_mib"] > 0 and report["rss_after_mib"] > 0
    args = parse("--url", url, "--clients", "2", "--requests", "20")
    assert bench_load.run(args) == 0
    text = capsys.readouterr().out
    for word in ("throughput", "p50", "p99", "errors       0", "server RSS", "passed"):
        assert word in text


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert bench_load.percentile(values, 50) == 50.0 and bench_load.percentile(values, 99) == 99.0
    assert bench_load.percentile([7.0], 99) == 7.0 and bench_load.percentile([], 50) is None


def test_argument_errors():
    from mlrsir.errors import ConfigError

    with pytest.raises(ConfigError, match="exactly one"):
        bench_load.run(parse("--clients", "2"))
    with pytest.raises(ConfigError, match="index directory not found"):
        bench_load.run(parse("--index", "/nonexistent/ix"))
