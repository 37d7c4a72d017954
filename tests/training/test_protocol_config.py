"""Issue 15: --protocol, --deterministic and the paper preset's reading."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.run.config import TrainConfig, resolve_config
from tests.fixtures.make_datasets import make_ucm_fixture


def test_protocol_field_validated_and_old_configs_load_as_paper(tmp_path):
    assert resolve_config("default", protocol="unseen-scenes").protocol == "unseen-scenes"
    with pytest.raises(ConfigError, match="--protocol"):
        resolve_config("default", protocol="zero-shot")
    old = resolve_config("default").to_dict()
    del old["protocol"], old["deterministic"]  # a config.json written before these fields
    (tmp_path / "config.json").write_text(json.dumps(old))
    loaded = TrainConfig.load(tmp_path / "config.json")
    assert loaded.protocol == "paper" and loaded.deterministic is False


def test_paper_preset_new_layers_get_a_larger_lr():
    from mlrsir.methods.registry import get_method
    from mlrsir.models.build import build_model
    from mlrsir.training.trainer import _make_optimizer

    config = resolve_config("paper", weights="none")
    assert config.backbone_lr == 1e-5 and config.lr == pytest.approx(20 * config.backbone_lr)
    assert config.method_params["pairwise"] == "euclidean" and config.method_params["normalize"] is False
    method = get_method(config.method, config.bits, **config.method_params)
    model = build_model(config, method)
    groups = _make_optimizer(config, model).param_groups
    head_ids = {id(p) for p in model.head_parameters()}
    assert groups[0]["lr"] == config.lr and {id(p) for p in groups[0]["params"]} == head_ids
    assert groups[1]["lr"] == config.backbone_lr
    # baselines keep their own loss under the paper preset
    assert "normalize" not in resolve_config("paper", method="dhn").method_params


@pytest.fixture()
def restore_torch():
    threads = torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(False)
    torch.set_num_threads(threads)


def test_deterministic_runs_give_identical_codes(tmp_path, monkeypatch, restore_torch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    root = make_ucm_fixture(tmp_path / "ucm", scenes=3, per_scene=6, size=40)
    codes = []
    for name in ("a", "b"):
        out = tmp_path / name
        argv = ["train", "--root", str(root), "--bits", "12", "--iterations", "3", "--batch-size", "8"]
        argv += ["--weights", "none", "--image-size", "32", "--finetune", "all", "--deterministic"]
        assert main([*argv, "--out", str(out), "--quiet"]) == 0
        assert json.loads((out / "config.json").read_text())["deterministic"] is True
        assert json.loads((out / "meta.json").read_text())["deterministic"] is True
        assert main(["encode", "--run", str(out), "--quiet"]) == 0
        data = np.load(out / "codes.npz")
        codes.append((data["codes"], data["outputs"]))
    assert torch.are_deterministic_algorithms_enabled() and torch.get_num_threads() == 1
    assert np.array_equal(codes[0][0], codes[1][0])
    assert np.array_equal(codes[0][1], codes[1][1])  # bit for bit


def test_finished_run_without_per_query_metrics_is_reevaluated(tmp_path, monkeypatch):
    from mlrsir.training.trainer import train

    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    root = make_ucm_fixture(tmp_path / "ucm", scenes=3, per_scene=6, size=40)
    config = resolve_config(
        "default", root=str(root), bits=12, iterations=2, batch_size=8, weights="none", image_size=32, method="dhn"
    )
    first = train(config, tmp_path / "run", progress=False, log=lambda s: None)
    old = {k: v for k, v in first.items() if not k.startswith("per_query") and "tiebreak" not in k}
    (tmp_path / "run" / "metrics.json").write_text(json.dumps(old))  # a run from before issue 15
    again = train(config, tmp_path / "run", progress=False, log=lambda s: None)
    assert again["map"] == pytest.approx(first["map"]) and again["map_tiebreak"] == pytest.approx(first["map_tiebreak"])
    assert again["per_query_ap"] == pytest.approx(first["per_query_ap"])
    assert "per_query_ap" in json.loads((tmp_path / "run" / "metrics.json").read_text())
