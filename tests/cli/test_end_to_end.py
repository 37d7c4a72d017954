"""End-to-end: data check, train, encode, evaluate, evaluate-codes, index, search, all through
the CLI in-process on a tiny generated UCM copy (random-init backbone, 32x32 inputs)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture()
def tiny_ucm(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    return make_ucm_fixture(tmp_path / "ucm", scenes=3, per_scene=10, size=48)


def _train_args(root, out, *extra):
    return [
        "train",
        "--dataset",
        "ucm",
        "--root",
        str(root),
        "--bits",
        "12",
        "--iterations",
        "2",
        "--batch-size",
        "8",
        "--weights",
        "none",
        "--image-size",
        "32",
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def test_train_encode_evaluate_round_trip(tiny_ucm, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["data", "check", "--dataset", "ucm", "--root", str(tiny_ucm)]) == 0
    assert main(_train_args(tiny_ucm, run, "--json")) == 0
    train_metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("config.json", "split.json", "meta.json", "model.safetensors", "metrics.json"):
        assert (run / name).is_file(), name
    meta = json.loads((run / "meta.json").read_text())
    assert "revision" in meta["git"] and meta["iterations"] == 2
    split = json.loads((run / "split.json").read_text())
    assert split  # saved split beside the run

    assert main(["encode", "--run", str(run), "--quiet"]) == 0
    codes = np.load(run / "codes.npz")
    assert codes["codes"].shape == (30, 12)
    assert set(np.unique(codes["codes"])) <= {0, 1}
    assert len(np.intersect1d(codes["query_idx"], codes["db_idx"])) == 0
    capsys.readouterr()

    assert main(["evaluate", "--run", str(run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["num_queries"] == len(codes["query_idx"]) == 9  # 30 % of 3 x 10 images
    assert metrics["num_database"] == 21
    assert metrics["bits"] == 12
    assert 0.0 <= metrics["map"] <= 1.0 and 0.0 <= metrics["map_stable"] <= 1.0
    # the encoder (full forward) reproduces the codes evaluated at the end of training
    assert metrics["map"] == pytest.approx(train_metrics["map"], abs=1e-9)

    assert main(["evaluate-codes", "--codes", str(run / "codes.npz"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["map"] == pytest.approx(metrics["map"], abs=1e-12)

    assert main(["evaluate", "--run", str(run), "--database", "all-but-query", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["num_database"] == 29


def test_finished_run_is_reused_and_other_config_refused(tiny_ucm, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny_ucm, run)) == 0
    first = (run / "metrics.json").read_text()
    assert main(_train_args(tiny_ucm, run)) == 0
    assert (run / "metrics.json").read_text() == first
    capsys.readouterr()
    assert main(_train_args(tiny_ucm, run, "--lr", "0.5")) == 2
    assert "another configuration" in capsys.readouterr().err


def test_finetune_all_and_baseline_runs(tiny_ucm, tmp_path):
    assert main(_train_args(tiny_ucm, tmp_path / "ft", "--finetune", "all")) == 0
    assert main(_train_args(tiny_ucm, tmp_path / "dqn", "--method", "dqn")) == 0
    assert (tmp_path / "dqn" / "method.safetensors").is_file()


def test_index_and_search_with_a_trained_run(tiny_ucm, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny_ucm, run)) == 0
    index = tmp_path / "index"
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(run),
                "--images",
                str(tiny_ucm / "Images"),
                "--index",
                str(index),
                "--labels",
                str(tiny_ucm / "LandUse_Multilabeled.txt"),
                "--quiet",
            ]
        )
        == 0
    )
    query = sorted((tiny_ucm / "Images").rglob("*.jpg"))[0]
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--query", str(query), "--k", "5", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    hits = results["results"] if isinstance(results, dict) else results
    assert len(hits) == 5
    distances = [h["distance"] for h in hits]
    assert distances == sorted(distances) and distances[0] == 0  # the query image itself is indexed


def test_missing_run_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["encode", "--run", str(tmp_path / "nope")]) == 2
    assert "run directory not found" in capsys.readouterr().err
