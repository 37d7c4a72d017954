"""``mlrsir bench load`` reports the server's warm, peak and after-run memory explicitly
(issue 10: the resident memory after a load test must return to within 64 MB of the warm
level)."""

from __future__ import annotations

import json
import os

from mlrsir.bench import load as bench_load
from tests.reliability.test_bench_load import parse, server  # noqa: F401  (module fixture)


def test_report_has_warm_peak_and_after_levels(server, capsys):  # noqa: F811
    url, _ = server
    args = parse(
        "--url", url, "--server-pid", str(os.getpid()), "--clients", "2", "--requests", "30",
        "--warmup-requests", "10", "--upload-fraction", "0.3", "--settle", "0.2", "--json",
    )  # fmt: skip
    assert bench_load.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    warm, peak, after = report["warm_rss_mib"], report["peak_rss_mib"], report["after_rss_mib"]
    assert warm > 0 and after > 0 and peak >= min(warm, after) - 1
    assert report["after_growth_mib"] == after - warm and report["max_rss_growth_mib"] == 64.0
    args = parse("--url", url, "--server-pid", str(os.getpid()), "--clients", "2", "--requests", "10", "--settle", "0")
    bench_load.run(args)
    text = capsys.readouterr().out
    assert "warm" in text and "peak" in text and "after" in text
