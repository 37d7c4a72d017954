"""The training configuration: built once by resolve_config, frozen, fully resolved (issue 9)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from mlrsir.codes import CodeLengthError, check_code_length
from mlrsir.data.registry import DATASETS, DEFAULT_DATASET, dataset_note
from mlrsir.errors import ConfigError
from mlrsir.methods.registry import METHOD_NAMES, METHODS, method_defaults
from mlrsir.run.config import TrainConfig, config_differences, resolve_config


def test_config_is_frozen():
    config = resolve_config("default")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bits = 64  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.method_params["quant_weight"] = 1.0  # type: ignore[index]
    assert json.loads(json.dumps(config.to_dict()))["method_params"] == dict(config.method_params)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("bits", [12, 32, 48])
def test_method_params_are_filled_from_the_one_defaults_table(method, bits):
    config = resolve_config("default", method=method, bits=bits)
    assert dict(config.method_params) == METHODS[method].default_hparams(bits) == method_defaults(method, bits)


def test_preset_defaults_actually_used():
    # default preset: the validation-chosen DPSH likelihood with quant_weight 0.01
    assert dict(resolve_config("default").method_params) == {"pairwise": "likelihood", "quant_weight": 0.01}
    # paper preset: the paper's Euclidean loss as written (summed over the code, issue 15);
    # quant_weight from the table, as before issue 9
    paper = resolve_config("paper")
    assert dict(paper.method_params) == {"pairwise": "euclidean", "quant_weight": 0.01, "normalize": False}
    # issue 15: lr 1e-5 is the backbone's; the new layers get 20x (their own parameter group)
    assert (paper.finetune, paper.optimizer, paper.backbone_lr, paper.lr, paper.batch_size, paper.iterations) == (
        "all",
        "sgd",
        1e-5,
        2e-4,
        32,
        200,
    )
    # the paper's loss applies to MLRSIR-NET only, whatever the case of its name
    assert resolve_config("paper", method="MLRSIR").method_params["pairwise"] == "euclidean"
    assert dict(resolve_config("paper", method="dhn").method_params) == method_defaults("dhn", 32)
    # given values win over the table, the rest is filled
    given = resolve_config("default", method_params={"quant_weight": 0.1})
    assert dict(given.method_params) == {"pairwise": "likelihood", "quant_weight": 0.1}


def test_dataset_name_is_normalised_against_the_registry():
    config = resolve_config("default", dataset="UCM")
    assert config.dataset == "ucm" == DEFAULT_DATASET
    assert dataset_note(config.dataset) == DATASETS["ucm"].NOTE != ""
    assert resolve_config("default").dataset == DEFAULT_DATASET
    assert resolve_config("default", method="DqN").method == "dqn"


def test_cli_dataset_upper_case_resolves_to_the_registry_name():
    import argparse

    from mlrsir.cli.train import add_config_arguments, config_overrides

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    args = parser.parse_args(["--dataset", "UCM"])
    assert resolve_config(args.preset, **config_overrides(args)).dataset == "ucm"


def test_unknown_dataset_or_method_lists_the_choices():
    with pytest.raises(ConfigError) as exc:
        resolve_config("default", dataset="imagenet")
    assert all(name in str(exc.value) for name in DATASETS)
    with pytest.raises(ConfigError) as exc:
        resolve_config("default", method="resnet")
    assert all(name in str(exc.value) for name in METHOD_NAMES)
    with pytest.raises(ConfigError, match="unknown hyperparameter"):
        resolve_config("default", method="dhn", method_params={"lamda": 1.0})
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_config("nope")


@pytest.mark.parametrize("bits", [0, -8, 257])
def test_bits_rule(bits):
    with pytest.raises(ConfigError, match="--bits must be between 1 and 256"):
        resolve_config("default", bits=bits)
    with pytest.raises(ValueError, match="bits must be"):
        check_code_length(bits, max_bits=256)


def test_code_length_rule_is_one_function():
    assert check_code_length(1) == 1 and check_code_length(300) == 300
    for bad in (0, -1, True, 2.5, "32"):
        with pytest.raises(CodeLengthError):
            check_code_length(bad)
    assert issubclass(CodeLengthError, ConfigError) and issubclass(CodeLengthError, ValueError)
    with pytest.raises(ConfigError, match="bits"):
        resolve_config("default", method="dqn", bits=30)  # PQ's own layout rule, at resolve time


def test_partial_method_params_in_an_old_config_json_resolve_to_the_same_values(tmp_path):
    full = resolve_config("default", method="dtq", bits=24)
    old = full.to_dict()
    old["method_params"] = {"quant_weight": full.method_params["quant_weight"]}  # written before issue 9
    old["dataset"] = "UCM"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    loaded = TrainConfig.load(path)
    assert loaded == full
    assert config_differences(loaded, full) == []


def test_config_differences_is_the_same_run_rule():
    a = resolve_config("default", root="/a", device="cpu")
    b = resolve_config("default", root="/b", device="auto", checkpoint_every=10)
    assert config_differences(a, b) == []
    c = resolve_config("default", bits=48, lr=0.01)
    assert config_differences(a, c) == ["bits", "lr"]
    d = resolve_config("default", method_params={"quant_weight": 0.1})
    assert config_differences(a, d) == ["method_params"]


def test_round_trip():
    config = resolve_config("paper", method="dch", bits=48, seed=3)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown configuration keys"):
        TrainConfig.from_dict({**config.to_dict(), "colour": 1})


def test_frozen_runs_ignore_settings_they_never_read():
    frozen = resolve_config("default", finetune="none")
    unused = resolve_config("default", finetune="none", backbone_lr=0.5, color_jitter=0.3)
    assert config_differences(frozen, unused) == []
    top = resolve_config("default", finetune="top1")
    assert config_differences(top, resolve_config("default", finetune="top1", backbone_lr=0.5)) == ["backbone_lr"]
    assert "finetune" in config_differences(frozen, top)
