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


def test_include_results_reuses_earlier_cells_and_trains_only_the_new_bit_length(ucm, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(["benchmark", "--root", str(ucm), "--methods", "mlrsir", "dtq", *TINY, "--out", str(first)]) == 0
    grow = [*TINY[:1], "12", "16", *TINY[2:]]  # --bits 12 16
    argv = ["benchmark", "--root", str(ucm), "--methods", "mlrsir", "dtq", *grow, "--out", str(second)]
    assert main([*argv, "--include-results", str(first / "results.json")]) == 0
    trained = sorted(p.name for p in (second / "runs").iterdir())
    assert trained == ["dtq-16b-s0", "mlrsir-16b-s0"]  # the 12-bit cells came from the file
    old = {(r["method"], r["bits"]): r for r in json.loads((first / "results.json").read_text())}
    new = {(r["method"], r["bits"]): r for r in json.loads((second / "results.json").read_text())}
    assert sorted(new) == [("dtq", 12), ("dtq", 16), ("mlrsir", 12), ("mlrsir", 16)]
    assert new[("mlrsir", 12)]["per_query_ap"] == old[("mlrsir", 12)]["per_query_ap"]
    assert new[("dtq", 16)]["iterations"] == 2 and new[("dtq", 16)]["batch_size"] == 8
    md = (second / "report.md").read_text()
    assert "grid cells reused" in md and "2 of 4" in md and "mlrsir: 2x8, dtq: 2x8" in md


def test_include_results_refuses_rows_trained_with_another_budget(ucm, tmp_path, capsys):
    first = tmp_path / "first"
    assert main(["benchmark", "--root", str(ucm), "--methods", "mlrsir", *TINY, "--out", str(first)]) == 0
    longer = [*TINY[: TINY.index("--iterations") + 1], "3", *TINY[TINY.index("--iterations") + 2 :]]
    argv = ["benchmark", "--root", str(ucm), "--methods", "mlrsir", *longer, "--out", str(tmp_path / "second")]
    assert main([*argv, "--include-results", str(first / "results.json")]) == 2
    assert "mlrsir 12 bits seed 0 was trained with iterations 2, this grid uses 3" in capsys.readouterr().err


def test_include_results_refuses_a_cell_in_two_files_and_names_a_bad_file(ucm, tmp_path, capsys):
    rows = [{"method": "mlrsir", "bits": 12, "seed": 0, "per_query_ap": [1.0]}]
    a, b, bad = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "bad.json"
    a.write_text(json.dumps(rows))
    b.write_text(json.dumps(rows))
    bad.write_text(json.dumps([{"method": "mlrsir", "bits": 12}]))
    base = ["benchmark", "--root", str(ucm), *TINY, "--out", str(tmp_path / "r")]
    assert main([*base, "--include-results", str(a), "--include-results", str(b)]) == 2
    assert f"{b}: mlrsir 12 bits seed 0 is also in {a}" in capsys.readouterr().err
    assert main([*base, "--include-results", str(bad)]) == 2
    assert f"{bad}: row 0 has no seed, per_query_ap" in capsys.readouterr().err
    assert main([*base, "--include-results", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: results file not found" in capsys.readouterr().err
    assert not (tmp_path / "r" / "runs").exists()  # refused before any training


def test_a_report_wholly_from_included_results_trains_nothing_and_still_has_floors(ucm, tmp_path):
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["benchmark", "--root", str(ucm), "--methods", "mlrsir", *TINY, "--out", str(first)]) == 0
    argv = ["benchmark", "--root", str(ucm), "--methods", "mlrsir", *TINY, "--out", str(again)]
    assert main([*argv, "--include-results", str(first / "results.json")]) == 0
    assert not (again / "runs").exists()
    assert json.loads((again / "results.json").read_text()) == json.loads((first / "results.json").read_text())
    md = (again / "report.md").read_text()
    assert "random ranking" in md.lower() and "1 of 1" in md
