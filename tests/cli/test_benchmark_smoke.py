"""A tiny benchmark grid on generated data: the issue-15 columns, tables and win rule."""

from __future__ import annotations

import csv
import json

import pytest

from mlrsir.cli.main import main
from tests.fixtures.make_datasets import make_ucm_fixture

TINY = ["--bits", "12", "--seeds", "1", "--iterations", "2", "--batch-size", "8", "--weights", "none"]
TINY += ["--image-size", "32", "--quiet", "--bootstrap-resamples", "200"]


@pytest.fixture()
def ucm(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    return make_ucm_fixture(tmp_path / "ucm", scenes=8, per_scene=5, size=40)


@pytest.mark.parametrize("protocol", ["paper", "unseen-scenes"])
def test_benchmark_writes_tiebreak_bootstrap_and_distinct_code_columns(ucm, tmp_path, protocol):
    out = tmp_path / f"report-{protocol}"
    methods = ["mlrsir", "dhn", "dtq"] if protocol == "paper" else ["mlrsir", "dtq"]
    argv = ["benchmark", "--root", str(ucm), "--methods", *methods, *TINY, "--out", str(out)]
    assert main([*argv, "--protocol", protocol]) == 0
    md = (out / "report.md").read_text()
    assert "MLRSIR-NET against each baseline (paired bootstrap over queries)" in md
    assert "**win** only when its interval excludes 0" in md
    assert "| Baseline | Bits | Δ mAP | 95 % interval | Verdict | Seeds | Queries | Δ per seed |" in md
    assert "Hamming with asymmetric tie-break" in md and "Distinct database codes" in md
    assert "Database = all but the query" in md and "copied cells" in md
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for key in ("map", "map_tiebreak", "map_asym", "all_but_query_map", "num_distinct_db_codes"):
        assert key in rows[0]
    by_method = {r["method"]: r for r in rows}
    assert by_method["dtq"]["map_tiebreak"] == ""  # quantizers have no Hamming tie-break
    results = json.loads((out / "results.json").read_text())
    assert all(len(r["per_query_ap"]) == r["num_queries"] for r in results)
    split = json.loads((out / "runs" / "mlrsir-12b-s0" / "split.json").read_text())
    config = json.loads((out / "runs" / "mlrsir-12b-s0" / "config.json").read_text())
    assert config["protocol"] == protocol and config["split_seed"] == config["seed"] == 0
    if protocol == "unseen-scenes":
        assert len(split["unseen_scenes"]) == 6 and len(split["seen_scenes"]) == 2
        assert "Unseen scenes" in md
