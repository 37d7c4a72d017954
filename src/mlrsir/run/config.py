"""Training configuration and presets.

A run is fully described by a :class:`TrainConfig`: frozen, normalised and validated
when it is built (by :func:`resolve_config`, or :meth:`TrainConfig.load` for a run
directory), then passed on unchanged. Resolving fills ``method_params`` with every
hyperparameter of the method (its defaults come from the one defaults table,
:mod:`mlrsir.methods`), normalises the dataset and method names against their
registries (case-insensitive) and checks the code length with
:func:`mlrsir.codes.check_code_length`. The resolved config is written to
``RUN_DIR/config.json`` and is enough to reproduce the run (with the split file and the
git revision written beside it); a ``config.json`` written with only some
``method_params`` resolves to the same values.

Presets
-------
``paper``
    Our reading of the setup of Moustafa et al. (Sec. 4.2): the whole network fine-tuned
    end to end with SGD, momentum 0.9, weight decay 5e-4, batch 32, 200 iterations,
    100x100 inputs, augmentation, the Euclidean pairwise loss plus quantization. The
    paper's lr 1e-5 is read as the lr of the pretrained backbone (``backbone_lr``); the
    layers the paper adds (CBAM and the hash head; the multi-level fusion has no weights)
    are new, randomly initialised, and get 20x that (``lr`` 2e-4, their own parameter
    group), the usual practice when fine-tuning a pretrained network with new layers. The
    Euclidean pairwise loss is taken as written, a sum over the k code dimensions
    (``normalize=False``), not additionally divided by k. Read literally (every layer at
    1e-5 on the per-bit mean), 200 iterations leave the new layers almost where they
    started (head weights moved by 0.04-0.09 %), so the preset learned nothing.
``default``
    What the validation split chose (``reports/ucm/tuning/tuning.md`` for the losses,
    ``reports/ucm/tuning/finetune_validation.md`` for the backbone): the top stage of the
    ImageNet backbone (EfficientNet-Lite0's stride-32 blocks and head convolution) trained
    together with CBAM and the hash head (``finetune="top1"``, backbone lr 1e-4, head lr
    1e-3, Adam), on the lower stages' outputs computed once per image and per dihedral view
    (8 views) and cached; the forward pass under bf16 autocast on a CPU with native bf16
    (``train_precision``, :func:`default_train_precision`; ``reports/ucm/tuning/train_precision.md``:
    validation mAP not separated from fp32's, the step 1.27x faster). Validation mAP 0.9829
    against 0.9779 with the whole backbone frozen (``finetune="none"``, the previous default,
    about a minute per run) and 0.9665 with backbone lr 1e-3. A run takes several minutes on
    two CPU cores instead of the hours the whole network would.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mlrsir.codes import MAX_TRAIN_BITS, check_code_length
from mlrsir.data.registry import DEFAULT_DATASET, canonical_bands, dataset_radiometry, normalize_dataset_name
from mlrsir.errors import ConfigError
from mlrsir.geo.tile_check import check_tile_stride
from mlrsir.methods.registry import DEFAULT_METHOD, normalize_method_name, resolve_method_params
from mlrsir.models.mixed_precision import cpu_has_bf16

FINETUNE_MODES = ("none", "top1", "top2", "all")


def finetune_top(finetune: str) -> int:
    """Number of top backbone stages trained: 0 (``none``), 1 or 2 (``top1``/``top2``);
    ``all`` trains every stage (returns -1)."""
    return {"none": 0, "top1": 1, "top2": 2, "all": -1}[finetune]


PROTOCOLS = ("paper", "unseen-scenes")  # = mlrsir.data.splits.PROTOCOLS
EVAL_SPLITS = ("test", "val")
OPTIMIZERS = ("adam", "sgd")
SUPERVISION_MODES = ("full", "none", "partial")
TRAIN_PRECISIONS = ("fp32", "bf16")
# keys that do not change what a run computes: a run directory may be resumed or reused
# with other values of these
RUN_IDENTITY_IGNORED = ("device", "checkpoint_every", "root")
# settings a run with finetune="none" never reads (no backbone step, no colour jitter on cached features)
UNUSED_WHEN_FROZEN = ("backbone_lr", "color_jitter")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (JSON round-trippable, immutable).

    Building one normalises and validates it (:meth:`__post_init__`): ``dataset`` and
    ``method`` become registry names, ``method_params`` the method's complete resolved
    hyperparameters (a read-only mapping). Invalid values raise :class:`ConfigError`.
    """

    # data
    dataset: str = DEFAULT_DATASET
    root: str = ""
    split_seed: int = 0
    test_fraction: float = 0.3
    val_fraction: float = 0.1
    eval_split: str = "test"  # "test": train on train+val, query test; "val": train on train, query val
    # "paper": 70/30 split of every scene; "unseen-scenes": train on 15 of the 21 scene classes,
    # query and search among the other 6 (mlrsir.data.splits). Configs written before this
    # field load as "paper".
    protocol: str = "paper"
    image_size: int = 100
    # "rgb" | "all" | "B02,B03,..." (multispectral datasets; 8-bit RGB datasets: "rgb" only).
    # Configs written before this field load as "rgb".
    bands: str = "rgb"
    # the dataset's fixed radiometric rule (mlrsir.geo.radiometry.Radiometry as a dict), filled
    # when resolved; {} for 8-bit RGB datasets
    radiometry: Mapping[str, Any] = field(default_factory=dict)
    # model
    method: str = DEFAULT_METHOD
    bits: int = 32
    backbone: str = "efficientnet_lite0"
    weights: str = "imagenet"
    multi_level: bool = True
    use_cbam: bool = True
    pool_size: int = 7
    hidden: int = 500
    method_params: Mapping[str, Any] = field(default_factory=dict)
    # optimisation
    # "none": frozen backbone on cached features; "top1"/"top2": the top 1 or 2 backbone stages
    # trained with CBAM and the head on cached lower-stage outputs (BatchNorm statistics
    # frozen); "all": whole network on augmented images
    finetune: str = "none"
    optimizer: str = "adam"  # "adam" | "sgd"
    lr: float = 1e-3
    backbone_lr: float = 1e-5  # the trained backbone stages (finetune top1/top2/all)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    iterations: int = 500
    augment: bool = True
    color_jitter: float = 0.1  # only with finetune="all" (cached features have no colour jitter)
    refit_every: int = 200  # codebook refits for quantizer methods (iterations)
    # bookkeeping
    seed: int = 0
    # "full": every training label; "none": images only (the label-free objective below), labels
    # used for evaluation only; "partial": labels on a seeded stratified label_fraction of the
    # training images (the method's loss on those) plus the label-free loss on all
    supervision: str = "full"
    label_fraction: float = 1.0
    ssl_temperature: float = 0.3
    # the label-free objective (supervision "none"/"partial"): "contrastive" (NT-Xent on two
    # views, methods/contrastive.py) or "neighbours" (inner products fitted to a pseudo-similarity
    # of the frozen backbone's features, methods/similarity_distillation.py with
    # training/neighbour_targets.py; neighbour_k: the neighbourhood averaged per image). None:
    # LABEL_FREE_DEFAULTS (chosen on validation); configs written before these fields load as
    # LABEL_FREE_UNUSED (the behaviour before: contrastive).
    label_free_objective: str | None = None
    neighbour_k: int | None = None
    # "partial" only. labelled_batch_size > 0: each step also draws that many images from the
    # labelled subset (their own seeded batch sequence) for the supervised loss; 0: the supervised
    # loss sees only the labelled images that fall into the random batch (about F x batch_size).
    # ssl_weight: weight of the label-free loss beside the supervised one. None: the values chosen
    # on validation (PARTIAL_DEFAULTS); configs written before these fields load as 0 and 1.0.
    labelled_batch_size: int | None = None
    ssl_weight: float | None = None
    # training from anything `index build --images` takes (training/archive_data.py; supervision "none"
    # only): image files/folders, rasters, band folders, STAC Items; scenes tiled as indexing tiles them.
    # Empty: the dataset at `root`. Configs written before these fields load as a dataset run.
    images: tuple[str, ...] = ()
    tile: int = 256
    stride: int | None = None
    scene_bands: str | None = None  # index build's --bands (3 bands or 1); None: the scene's RGB bands
    scene_radiometry: str = "auto"  # index build's --radiometry
    # torch.use_deterministic_algorithms(True) and one CPU thread: bit-for-bit repeatable
    # runs given the seed (slower). Configs written before this field load as False.
    deterministic: bool = False
    # "fp32", or "bf16": the training forward pass under torch.autocast (bfloat16 matrix
    # products and convolutions, fp32 weights, loss and optimizer; AVX-512 BF16 / AMX on CPU).
    # Evaluation and the saved model stay fp32. Configs written before this field load as "fp32".
    train_precision: str = "fp32"
    checkpoint_every: int = 250
    device: str = "auto"

    def __post_init__(self) -> None:
        """Normalise and validate (the only place the training config is checked)."""
        if self.finetune not in FINETUNE_MODES:
            raise ConfigError(f"--finetune must be one of {FINETUNE_MODES}, got {self.finetune!r}")
        if self.eval_split not in EVAL_SPLITS:
            raise ConfigError(f"--eval-split must be one of {EVAL_SPLITS}, got {self.eval_split!r}")
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"--protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"deterministic must be true or false, got {self.deterministic!r}")
        if self.train_precision not in TRAIN_PRECISIONS:
            raise ConfigError(f"--train-precision must be one of {TRAIN_PRECISIONS}, got {self.train_precision!r}")
        if self.supervision not in SUPERVISION_MODES:
            raise ConfigError(f"--supervision must be one of {SUPERVISION_MODES}, got {self.supervision!r}")
        if not 0.0 < self.label_fraction <= 1.0:
            raise ConfigError(f"--label-fraction must be in (0, 1], got {self.label_fraction}")
        if self.supervision != "partial" and self.label_fraction != 1.0:
            raise ConfigError("--label-fraction needs --supervision partial")
        self._check_images()
        self._check_partial()
        self._check_label_free()
        if not self.ssl_temperature > 0:
            raise ConfigError(f"ssl_temperature must be > 0, got {self.ssl_temperature}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer must be adam or sgd, got {self.optimizer!r}")
        check_code_length(self.bits, name="--bits", max_bits=MAX_TRAIN_BITS)
        if self.batch_size < 2:
            raise ConfigError("--batch-size must be at least 2 (the losses are pairwise)")
        if self.iterations < 1:
            raise ConfigError("--iterations must be at least 1")
        if self.image_size < 32:
            raise ConfigError(f"--image-size must be at least 32, got {self.image_size}")
        dataset = normalize_dataset_name(self.dataset)
        method = normalize_method_name(self.method)
        params = resolve_method_params(method, self.bits, dict(self.method_params))
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "bands", canonical_bands(dataset, self.bands))
        object.__setattr__(self, "radiometry", MappingProxyType(dataset_radiometry(dataset, dict(self.radiometry))))
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "method_params", MappingProxyType(params))

    def _check_partial(self) -> None:
        """``labelled_batch_size`` / ``ssl_weight`` only with ``partial``; ``None`` resolved to
        :data:`PARTIAL_DEFAULTS` there (and to 0 / 1.0, unused, otherwise)."""
        given = {"labelled_batch_size": self.labelled_batch_size, "ssl_weight": self.ssl_weight}
        if self.supervision != "partial":
            if any(v is not None and v != PARTIAL_UNUSED[k] for k, v in given.items()):
                raise ConfigError("--labelled-batch-size and --ssl-weight need --supervision partial")
            values = dict(PARTIAL_UNUSED)
        else:
            values = {k: PARTIAL_DEFAULTS[k] if v is None else v for k, v in given.items()}
        if not isinstance(values["labelled_batch_size"], int) or values["labelled_batch_size"] < 0:
            raise ConfigError(f"--labelled-batch-size must be an integer >= 0, got {values['labelled_batch_size']!r}")
        if values["labelled_batch_size"] == 1:
            raise ConfigError("--labelled-batch-size must be 0 or at least 2 (the supervised losses are pairwise)")
        if not float(values["ssl_weight"]) >= 0:
            raise ConfigError(f"--ssl-weight must be >= 0, got {values['ssl_weight']!r}")
        object.__setattr__(self, "labelled_batch_size", int(values["labelled_batch_size"]))
        object.__setattr__(self, "ssl_weight", float(values["ssl_weight"]))

    def _check_label_free(self) -> None:
        """``label_free_objective`` / ``neighbour_k`` only without full supervision; ``None``
        resolved to :data:`LABEL_FREE_DEFAULTS` there (and to :data:`LABEL_FREE_UNUSED` with
        full supervision); ``neighbour_k`` only with ``neighbours``."""
        objective, k = self.label_free_objective, self.neighbour_k
        if self.supervision == "full":
            if objective not in (None, LABEL_FREE_UNUSED["label_free_objective"]) or k not in (None, 0):
                raise ConfigError("--label-free-objective and --neighbour-k need --supervision none or partial")
            objective, k = LABEL_FREE_UNUSED["label_free_objective"], LABEL_FREE_UNUSED["neighbour_k"]
        objective = LABEL_FREE_DEFAULTS["label_free_objective"] if objective is None else objective
        if objective not in LABEL_FREE_OBJECTIVES:
            raise ConfigError(f"--label-free-objective must be one of {LABEL_FREE_OBJECTIVES}, got {objective!r}")
        if objective == "contrastive":
            if k not in (None, 0):
                raise ConfigError("--neighbour-k needs --label-free-objective neighbours")
            k = 0
        elif k is None:
            k = LABEL_FREE_DEFAULTS["neighbour_k"]
        if not isinstance(k, int) or isinstance(k, bool) or (objective == "neighbours" and k < 1):
            raise ConfigError(f"--neighbour-k must be an integer >= 1, got {k!r}")
        object.__setattr__(self, "label_free_objective", objective)
        object.__setattr__(self, "neighbour_k", int(k))

    def _check_images(self) -> None:
        """``images`` (stored as a tuple of absolute paths) only with supervision none; tile options >= 1."""
        images = (self.images,) if isinstance(self.images, str) else tuple(self.images or ())
        object.__setattr__(self, "images", tuple(os.path.abspath(os.path.expanduser(str(p))) for p in images))
        if self.images and self.supervision != "none":
            raise ConfigError("--images trains without labels: it needs --supervision none")
        check_tile_stride(self.tile, self.stride)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (``method_params`` as a new ``dict``)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["images"] = list(self.images)
        data["method_params"] = dict(self.method_params)
        data["radiometry"] = dict(self.radiometry)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build (and so resolve and validate) a config from a dict such as ``to_dict()``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration keys: {unknown}")
        return cls(**data)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """The config of a run directory's ``config.json`` (resolved like a new one)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the run configuration ({exc})") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a run configuration (a JSON object is expected)")
        try:
            # written before the partial-supervision / label-free options: the behaviour before
            return cls.from_dict(dict(PARTIAL_UNUSED) | dict(LABEL_FREE_UNUSED) | data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"{path}: not a valid run configuration ({exc})") from None


# --supervision partial: a separate labelled batch per step and the weight of the label-free
# loss, chosen on the validation split (32 bits, F = 0.1, seed 0; reports/ucm-label-free/
# partial_validation.md). PARTIAL_UNUSED: the values that mean "off" (the behaviour before).
# Validation mAP (147 queries): labelled images of the random batch + NT-Xent (the behaviour
# before) 0.8220; a labelled batch of 64 + NT-Xent 0.7715; a labelled batch of 64 alone 0.9295.
PARTIAL_DEFAULTS: dict[str, Any] = {"labelled_batch_size": 64, "ssl_weight": 0.0}
PARTIAL_UNUSED: dict[str, Any] = {"labelled_batch_size": 0, "ssl_weight": 1.0}

# The label-free objective of --supervision none / partial, chosen on the validation split
# (32 bits, seed 0; reports/ucm-label-free/label_free_validation.md). LABEL_FREE_UNUSED: the
# behaviour before the option (NT-Xent), also what a fully supervised config stores.
# Validation mAP (147 queries, top1): contrastive 0.7288; neighbours k=10 0.8328 (k=20 with
# no power normalisation 0.8225, k=10 without it 0.8231); ITQ on the frozen features 0.7749.
LABEL_FREE_OBJECTIVES = ("contrastive", "neighbours")
LABEL_FREE_DEFAULTS: dict[str, Any] = {"label_free_objective": "neighbours", "neighbour_k": 10}
LABEL_FREE_UNUSED: dict[str, Any] = {"label_free_objective": "contrastive", "neighbour_k": 0}


def config_differences(stored: TrainConfig, requested: TrainConfig) -> list[str]:
    """The keys (sorted) in which two configs define different runs; ``[]`` = same run.

    The one "same run?" rule, used to refuse a run directory that holds another run
    and to reuse a finished one. Keys of :data:`RUN_IDENTITY_IGNORED` do not count, nor
    those a frozen-backbone run never reads (:data:`UNUSED_WHEN_FROZEN`) when both are frozen.
    """
    old, new = stored.to_dict(), requested.to_dict()
    ignored = set(RUN_IDENTITY_IGNORED)
    if old.get("finetune") == new.get("finetune") == "none":
        ignored |= set(UNUSED_WHEN_FROZEN)
    return sorted(k for k in new if k not in ignored and old.get(k) != new.get(k))


# The budget (iterations, batch size) of each method in the default preset, chosen on the
# validation split with `mlrsir tune --budgets 500x64 1000x32 1000x64 2000x64` (32 bits,
# seed 0; reports/ucm/tuning/budgets.md). DCH and DQN were not tuned and keep 500 x 64.
METHOD_BUDGETS: dict[str, dict[str, int]] = {
    "mlrsir": {"batch_size": 64, "iterations": 1000},
    "dhn": {"batch_size": 64, "iterations": 2000},
    "dtq": {"batch_size": 64, "iterations": 1000},
}


def method_budget(preset: str, method: str | None, finetune: str | None, supervision: str | None) -> dict[str, int]:
    """The validated ``{"iterations", "batch_size"}`` of ``method`` in ``preset``, or ``{}``.

    A budget applies only to the backbone regime it was chosen for (the preset's
    ``finetune``) and to fully supervised training; other runs keep the dataclass defaults.
    """
    values = PRESETS.get(preset, {})
    budgets = values.get("method_budgets") or {}
    if (finetune or values.get("finetune")) != values.get("finetune") or (supervision or "full") != "full":
        return {}
    return dict(budgets.get(normalize_method_name(method or DEFAULT_METHOD), {}))


# Values each preset sets; anything not listed keeps the dataclass default.
PRESETS: dict[str, dict[str, Any]] = {
    # validation winner (reports/ucm/tuning/finetune_validation.md)
    # train_precision "auto": bf16 on a CPU with bf16 kernels, the measured winner
    # (reports/ucm/tuning/train_precision.md), else fp32 (resolved when the config is built)
    # method_budgets: each method's training budget (iterations, batch size), chosen on the
    # validation split for the preset's backbone regime (reports/ucm/tuning/budgets.md); used
    # with that regime and full supervision when --iterations / --batch-size are not given
    "default": {
        "finetune": "top1",
        "backbone_lr": 1e-4,
        "train_precision": "auto",
        "method_budgets": METHOD_BUDGETS,
    },
    "paper": {
        "finetune": "all",
        "optimizer": "sgd",
        "lr": 2e-4,  # the new layers (CBAM, hash head): 20x the backbone's lr (see the docstring)
        "backbone_lr": 1e-5,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "batch_size": 32,
        "iterations": 200,
        "image_size": 100,
        "augment": True,
        # the paper's own loss; applies to MLRSIR-NET only (baselines keep their losses).
        # quant_weight is not set: it comes from MLRSIR's defaults (0.01)
        "mlrsir_params": {"pairwise": "euclidean", "normalize": False},
    },
}


def default_train_precision(device: str = "auto", finetune: str = "top1") -> str:
    """What the ``default`` preset's ``train_precision="auto"`` resolves to: ``"bf16"`` when
    backbone stages are trained (``finetune`` top1/top2/all, the measured steps) on the CPU and
    the CPU has native bf16 (AVX-512 BF16 or AMX, :func:`mlrsir.models.mixed_precision.cpu_has_bf16`),
    else ``"fp32"`` (GPUs, older CPUs and head-only training: not measured, or slower)."""
    if finetune == "none" or device not in ("auto", "cpu") or not cpu_has_bf16():
        return "fp32"
    import torch  # noqa: PLC0415 (torch only when a config is resolved, not when the CLI starts)

    return "fp32" if device == "auto" and torch.cuda.is_available() else "bf16"


def resolve_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    """Preset values (with the method's validated budget, :func:`method_budget`), then
    explicit overrides (``None`` means "not given"), then the method's defaults for the
    ``method_params`` not given; validated once, frozen."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset])
    values.pop("method_budgets", None)
    values.update(
        method_budget(preset, overrides.get("method"), overrides.get("finetune"), overrides.get("supervision"))
    )
    mlrsir_params = values.pop("mlrsir_params", {})
    method = overrides.get("method")
    if mlrsir_params and (method is None or normalize_method_name(method) == "mlrsir"):
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
    if values.get("train_precision") == "auto":
        values["train_precision"] = default_train_precision(
            str(values.get("device") or "auto"), str(values.get("finetune") or "none")
        )
    if values.get("root"):
        # stored absolute, so that the run works from any working directory (encode, resume)
        values["root"] = os.path.abspath(os.path.expanduser(str(values["root"])))
    return TrainConfig.from_dict(values)


def run_dataset_root(config: TrainConfig, override: str | None = None, *, run_dir=None) -> str:
    """The dataset folder of a run: ``override`` (``--root``) when given, else the stored root.

    Runs since issue 10 store an absolute root. Older runs may hold a relative one (as
    typed at training time); it is tried as given, relative to the current directory,
    and when that is not a folder a :class:`ConfigError` suggests ``--root``.
    """
    if override:
        if not Path(override).is_dir():
            raise ConfigError(f"--root {override}: dataset folder not found")
        return str(override)
    root = config.root
    if not root:
        raise ConfigError(f"{run_dir or 'the run'}: its configuration records no dataset folder; pass --root DIR")
    if not Path(root).is_dir():
        where = f"{Path(run_dir) / 'config.json'}" if run_dir else "the run's config.json"
        relative = (
            " (a relative path, stored as typed when the run was trained, so it only works from that directory)"
            if not os.path.isabs(root)
            else ""
        )
        raise ConfigError(
            f"{root}: dataset folder of the run not found{relative}; it is recorded in {where}. "
            "Pass the dataset folder with --root DIR"
        )
    return str(root)
