"""``mlrsir tune``: candidates on the validation split, for method parameters or budgets."""

from __future__ import annotations

import argparse
import json

import pytest

from mlrsir.cli.main import main
from mlrsir.cli.tune import parse_budget
from tests.fixtures.make_datasets import make_ucm_fixture

TINY = ["--bits", "12", "--weights", "none", "--image-size", "32", "--quiet", "--batch-size", "8"]


@pytest.fixture()
def ucm(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    return make_ucm_fixture(tmp_path / "ucm", scenes=8, per_scene=12, size=32)


def test_parse_budget_reads_iterations_x_batch_and_refuses_the_rest():
    assert parse_budget("1000x64") == {"iterations": 1000, "batch_size": 64}
    assert parse_budget("20X8") == {"iterations": 20, "batch_size": 8}
    for bad in ("1000", "x64", "1000x", "0x64", "ax64", "1000x-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected ITERATIONSxBATCH"):
            parse_budget(bad)


def test_tune_budgets_trains_each_budget_on_validation_and_keeps_the_best(ucm, tmp_path, capsys):
    out = tmp_path / "tune"
    argv = ["tune", "--root", str(ucm), "--methods", "mlrsir", *TINY, "--budgets", "2x8", "3x4", "--out", str(out)]
    assert main(argv) == 0
    result = json.loads((out / "tuning.json").read_text())
    assert [r["params"] for r in result["results"]] == [
        {"iterations": 2, "batch_size": 8},
        {"iterations": 3, "batch_size": 4},
    ]
    for r in result["results"]:
        config = json.loads(
            (
                out / "runs" / f"mlrsir-12b-{r['params']['iterations']}x{r['params']['batch_size']}" / "config.json"
            ).read_text()
        )
        assert config["iterations"] == r["params"]["iterations"] and config["batch_size"] == r["params"]["batch_size"]
        assert config["eval_split"] == "val"
        assert r["train_seconds"] > 0
    best = max(result["results"], key=lambda r: r["map"])
    assert result["best"]["mlrsir-12"]["params"] == best["params"]
    md = (out / "tuning.md").read_text()
    assert "training budgets (iterations x batch size)" in md and "| training s |" in md.replace(
        " training s ", " training s "
    )
    assert "best mlrsir-12:" in capsys.readouterr().out


def test_tune_without_budgets_searches_the_method_parameters(ucm, tmp_path):
    out = tmp_path / "tune"
    assert main(["tune", "--root", str(ucm), "--methods", "dqn", *TINY, "--iterations", "2", "--out", str(out)]) == 0
    result = json.loads((out / "tuning.json").read_text())
    assert {json.dumps(r["params"], sort_keys=True) for r in result["results"]} == {
        json.dumps({"quant_weight": q}) for q in (0.0001, 0.001, 0.01, 0.1)
    }
    assert all(
        json.loads((out / "runs" / f"dqn-12b-c{i}" / "config.json").read_text())["iterations"] == 2 for i in range(4)
    )


def test_tune_on_a_dataset_too_small_for_a_validation_split_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    small = make_ucm_fixture(tmp_path / "small", scenes=4, per_scene=3, size=32)
    argv = [
        "tune",
        "--root",
        str(small),
        "--methods",
        "mlrsir",
        *TINY,
        "--budgets",
        "2x8",
        "--out",
        str(tmp_path / "t"),
    ]
    assert main(argv) == 2
    assert "the validation split is empty" in capsys.readouterr().err
