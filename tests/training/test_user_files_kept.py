"""Issue 24 item 15: ``mlrsir train --out DIR`` never removes or overwrites what mlrsir did not create."""

from __future__ import annotations

import json

import pytest

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.run.checkpoint import remove_checkpoint_folder
from tests.cli.test_end_to_end import _train_args
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture()
def tiny_ucm(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    return make_ucm_fixture(tmp_path / "ucm", scenes=3, per_scene=10, size=48)


def test_train_refuses_a_users_folder_and_keeps_its_files(tiny_ucm, tmp_path, capsys):
    out = tmp_path / "thesis"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "thesis.tex").write_text("chapter 1")
    (out / "checkpoint.old").mkdir()
    (out / "checkpoint.old" / "backup.txt").write_text("backup")
    (out / "split.json").write_text("mine")
    assert main(_train_args(tiny_ucm, out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "not an mlrsir run" in err
    assert (out / "checkpoint" / "thesis.tex").read_text() == "chapter 1"
    assert (out / "checkpoint.old" / "backup.txt").read_text() == "backup"
    assert (out / "split.json").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint", "checkpoint.old", "split.json"]


def test_a_users_file_inside_a_runs_checkpoint_folder_is_never_deleted(tiny_ucm, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(_train_args(tiny_ucm, run)) == 0
    (run / "metrics.json").unlink()  # unfinished again: the next train resumes and saves a checkpoint
    (run / "checkpoint.old").mkdir()
    (run / "checkpoint.old" / "notes.txt").write_text("keep me")
    # a run folder passes the folder check; the checkpoint save then meets a file it did not
    # write and stops instead of deleting it
    assert main(_train_args(tiny_ucm, run)) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "did not write" in err
    assert (run / "checkpoint.old" / "notes.txt").read_text() == "keep me"


def test_empty_folder_and_finished_run_are_accepted(tiny_ucm, tmp_path):
    run = tmp_path / "empty"
    run.mkdir()
    assert main(_train_args(tiny_ucm, run)) == 0
    assert (run / "config.json").is_file() and (run / "checkpoint" / "state.json").is_file()
    assert not (run / "checkpoint.old").exists() and not (run / "checkpoint.tmp").exists()
    assert main(_train_args(tiny_ucm, run)) == 0  # reused


def test_a_bad_user_config_json_is_named(tiny_ucm, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"mine": 1}))
    assert main(_train_args(tiny_ucm, run)) == 2
    err = capsys.readouterr().err
    assert str(run / "config.json") in err and "mine" in err


def test_remove_checkpoint_folder_removes_only_its_own_files(tmp_path):
    own = tmp_path / "checkpoint.old"
    own.mkdir()
    for name in ("model.safetensors", "optimizer.pt", "state.json", ".model.safetensors.abc.tmp"):
        (own / name).write_bytes(b"x")
    remove_checkpoint_folder(own)
    assert not own.exists()
    mixed = tmp_path / "checkpoint.tmp"
    mixed.mkdir()
    (mixed / "state.json").write_text("{}")
    (mixed / "data").mkdir()
    with pytest.raises(ConfigError, match="data"):
        remove_checkpoint_folder(mixed)
    assert (mixed / "state.json").is_file() and (mixed / "data").is_dir()
