"""Runs that depended on the working directory (issue 10, item 6).

A run stored its dataset root as given (``../shared/data/ucm-multilabel``), so
``mlrsir encode --run`` from another directory failed. New runs store the absolute path;
old runs with a relative root are still tried as given, then refused with a message
suggesting ``--root``.
"""

from __future__ import annotations

import json
import os

import pytest

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.run.config import TrainConfig, resolve_config, run_dataset_root
from tests.fixtures.make_datasets import make_ucm_fixture


def test_resolved_config_stores_an_absolute_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = resolve_config("default", root="data/../data/ucm", device="cpu")
    assert config.root == str(tmp_path / "data" / "ucm")
    assert resolve_config("default", root="/abs/ucm").root == "/abs/ucm"
    # loading an old config keeps its relative root as it was stored
    old = TrainConfig.from_dict({**config.to_dict(), "root": "../shared/data/ucm-multilabel"})
    assert old.root == "../shared/data/ucm-multilabel"


def test_old_relative_root_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = TrainConfig.from_dict({**resolve_config("default").to_dict(), "root": "../nowhere/ucm-multilabel"})
    with pytest.raises(ConfigError) as raised:
        run_dataset_root(old, None, run_dir="runs/r1")
    message = str(raised.value)
    assert "../nowhere/ucm-multilabel" in message and "--root" in message and "relative" in message
    (tmp_path / "elsewhere").mkdir()
    assert run_dataset_root(old, str(tmp_path / "elsewhere"), run_dir="runs/r1") == str(tmp_path / "elsewhere")


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRSIR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def test_encode_from_another_directory(tmp_path, monkeypatch, capsys):
    make_ucm_fixture(tmp_path / "work" / "data" / "ucm", scenes=3, per_scene=4, size=32)
    monkeypatch.chdir(tmp_path / "work")
    args = ["--root", "data/ucm", "--weights", "none", "--image-size", "32", "--iterations", "2"]
    args += ["--batch-size", "8", "--bits", "16", "--device", "cpu", "--no-augment", "--quiet"]
    assert main(["train", *args, "--out", "run"]) == 0
    stored = json.loads((tmp_path / "work" / "run" / "config.json").read_text())["root"]
    assert os.path.isabs(stored) and stored == str(tmp_path / "work" / "data" / "ucm")
    monkeypatch.chdir(tmp_path)  # somewhere else
    assert main(["encode", "--run", "work/run", "--quiet"]) == 0
    # an old run with a relative root: clear error naming --root, and --root works
    config_file = tmp_path / "work" / "run" / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "root": "data/ucm"}))
    capsys.readouterr()
    assert main(["encode", "--run", "work/run", "--quiet"]) == 2
    assert "--root" in capsys.readouterr().err
    assert main(["encode", "--run", "work/run", "--root", "work/data/ucm", "--quiet"]) == 0
