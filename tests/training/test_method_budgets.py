"""Each method's training budget in the default preset (issue 29): chosen on validation,
applied only where it was chosen (the preset's backbone regime, full supervision), and
never over an explicit --iterations / --batch-size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlrsir.methods.registry import METHOD_NAMES
from mlrsir.run import config as config_module
from mlrsir.run.config import METHOD_BUDGETS, resolve_config

BUDGETS_JSON = Path(__file__).resolve().parents[2] / "reports" / "ucm" / "tuning" / "budgets.json"


@pytest.fixture()
def budgets(monkeypatch):
    table = {"dtq": {"iterations": 2000, "batch_size": 32}}
    monkeypatch.setitem(config_module.PRESETS["default"], "method_budgets", table)
    return table


def test_a_method_gets_its_budget_in_the_default_preset(budgets):
    config = resolve_config("default", method="DTQ")
    assert (config.iterations, config.batch_size) == (2000, 32)
    other = resolve_config("default", method="dhn")  # not in the table: the dataclass defaults
    assert (other.iterations, other.batch_size) == (500, 64)


def test_explicit_iterations_and_batch_size_win_over_the_budget(budgets):
    config = resolve_config("default", method="dtq", iterations=7)
    assert (config.iterations, config.batch_size) == (7, 32)
    config = resolve_config("default", method="dtq", batch_size=16)
    assert (config.iterations, config.batch_size) == (2000, 16)


@pytest.mark.parametrize(
    "overrides", [{"finetune": "none"}, {"finetune": "all"}, {"supervision": "none"}, {"supervision": "partial"}]
)
def test_the_budget_applies_only_to_the_regime_it_was_chosen_for(budgets, overrides):
    config = resolve_config(
        "default", method="dtq", label_fraction=0.5 if "partial" in overrides.values() else None, **overrides
    )
    assert (config.iterations, config.batch_size) == (500, 64)


def test_the_paper_preset_keeps_its_own_budget(budgets):
    config = resolve_config("paper", method="dtq")
    assert (config.iterations, config.batch_size) == (200, 32)


def test_the_default_budgets_are_the_ones_validation_chose():
    """METHOD_BUDGETS is what `mlrsir tune --budgets` chose (reports/ucm/tuning/budgets.json)."""
    if not BUDGETS_JSON.is_file():
        pytest.skip(f"{BUDGETS_JSON} not in this checkout")
    best = json.loads(BUDGETS_JSON.read_text())["best"]
    chosen = {key.rsplit("-", 1)[0]: entry["params"] for key, entry in best.items()}
    assert METHOD_BUDGETS == chosen
    assert set(METHOD_BUDGETS) <= set(METHOD_NAMES)
