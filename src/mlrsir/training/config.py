"""Training configuration and presets.

A run is fully described by a :class:`TrainConfig`; the resolved config is written to
``RUN_DIR/config.json`` and is enough to reproduce the run (with the split file and the
git revision written beside it).

Presets
-------
``paper``
    The setup of Moustafa et al. (Sec. 4.2): the whole network fine-tuned with SGD,
    lr 1e-5, momentum 0.9, weight decay 5e-4, batch 32, 200 iterations, 100x100 inputs,
    augmentation, the Euclidean pairwise loss plus quantization.
``default``
    What the validation split chose (see ``reports/ucm/tuning.md``): the ImageNet backbone
    frozen, its multi-level features computed once per image and per dihedral view
    (8 views), and CBAM + hash head trained with Adam on those cached features. This is
    what makes a run take about a minute on two CPU cores instead of most of an hour.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrsir.errors import ConfigError

FINETUNE_MODES = ("none", "all")
EVAL_SPLITS = ("test", "val")


@dataclass
class TrainConfig:
    """Everything that defines a training run (JSON round-trippable)."""

    # data
    dataset: str = "ucm"
    root: str = ""
    split_seed: int = 0
    test_fraction: float = 0.3
    val_fraction: float = 0.1
    eval_split: str = "test"  # "test": train on train+val, query test; "val": train on train, query val
    image_size: int = 100
    # model
    method: str = "mlrsir"
    bits: int = 32
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    multi_level: bool = True
    use_cbam: bool = True
    pool_size: int = 7
    hidden: int = 500
    method_params: dict[str, Any] = field(default_factory=dict)
    # optimisation
    finetune: str = "none"  # "none": frozen backbone on cached features; "all": whole network
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1e-3
    backbone_lr: float = 1e-5  # only with finetune="all"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    iterations: int = 500
    augment: bool = True
    color_jitter: float = 0.1  # only with finetune="all" (cached features have no colour jitter)
    refit_every: int = 200  # codebook refits for quantizer methods (iterations)
    # bookkeeping
    seed: int = 0
    checkpoint_every: int = 250
    device: str = "auto"

    def validate(self) -> "TrainConfig":
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"--finetune must be one of {FINETUNE_MODES}, got {self.finetune!r}")
        if self.eval_split not in EVAL_SPLITS:
            raise ConfigError(f"--eval-split must be one of {EVAL_SPLITS}, got {self.eval_split!r}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"--optimizer must be adam or sgd, got {self.optimizer!r}")
        if not 1 <= self.bits <= 256:
            raise ConfigError(f"--bits must be between 1 and 256, got {self.bits}")
        if self.batch_size < 2:
            raise ConfigError("--batch-size must be at least 2 (the losses are pairwise)")
        if self.iterations < 1:
            raise ConfigError("--iterations must be at least 1")
        if self.image_size < 32:
            raise ConfigError(f"--image-size must be at least 32, got {self.image_size}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {unknown}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the run configuration ({exc})") from exc


# Values each preset sets; anything not listed keeps the dataclass default.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "paper": {
        "finetune": "all",
        "optimizer": "sgd",
        "lr": 1e-5,
        "backbone_lr": 1e-5,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 32,
        "iterations": 200,
        "image_size": 100,
        "augment": True,
        # the paper's own loss; applies to MLRSIR-NET only (baselines keep their losses)
        "mlrsir_params": {"pairwise": "euclidean"},
    },
}


def resolve_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    """Preset values, then explicit overrides (``None`` means "not given")."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset])
    mlrsir_params = values.pop("mlrsir_params", {})
    if overrides.get("method") in (None, "mlrsir") and mlrsir_params:
        values["method_params"] = dict(mlrsir_params)
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "method_params":
            merged = dict(values.get("method_params", {}))
            merged.update(value)
            values[key] = merged
        else:
            values[key] = value
    return TrainConfig.from_dict(values).validate()
