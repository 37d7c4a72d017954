"""Training loop shared by MLRSIR-NET and the baselines.

One network (:class:`~mlrsir.models.mlrsir_net.MLRSIRNet`) and one method object
(:func:`~mlrsir.methods.registry.get_method`) define a run: the method supplies the loss on
the head outputs, the database representation and the ranking distance. Two modes:

* ``finetune="none"``: the backbone is frozen; its multi-level features of every image and
  dihedral view are computed once (:mod:`~mlrsir.training.feature_cache`) and only CBAM and
  the hash head are trained.
* ``finetune="top1"`` / ``"top2"``: the top 1 or 2 backbone stages (EfficientNet-Lite0: the
  stride-32 blocks and head convolution; plus the stride-16 blocks) are trained with CBAM and
  the head, at ``backbone_lr``. The stages below never change, so their output per image and
  dihedral view is computed once and cached (:func:`~mlrsir.training.feature_cache.compute_trunk`),
  and only the trained stages run per step; BatchNorm statistics stay frozen (eval mode), so a
  step costs little more than head-only training on CPU.
* ``finetune="all"``: the whole network is trained on augmented images (dihedral views and
  colour jitter), the backbone with its own learning rate (``backbone_lr``).

``train_precision="bf16"`` runs the training forward pass (cached-input stages, CBAM, head,
or the whole network) under ``torch.autocast(device, torch.bfloat16)``: convolutions and
matrix products in bfloat16 (AVX-512 BF16 / AMX on CPU) except the depthwise convolutions
(fp32, faster here: :mod:`mlrsir.models.mixed_precision`); weights, gradients, optimizer
state and the loss in fp32 (the head outputs are cast back before the loss). Evaluation, codebook
refits and the saved weights are fp32 either way.

Batches, views and augmentations are a function of the seed (:mod:`~mlrsir.training.batches`);
the arithmetic is bit-for-bit repeatable only with ``deterministic=True`` (one CPU thread,
deterministic kernels: :func:`set_deterministic`). The loop is resumable
from ``RUN_DIR/checkpoint``. A non-finite loss stops training with a clear error and leaves
the last good checkpoint in place.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mlrsir.codes import binarize
from mlrsir.data.cache import load_image_array
from mlrsir.data.registry import load_dataset
from mlrsir.data.splits import load_or_create_split, protocol_indices, save_split
from mlrsir.data.transforms import contrastive_view
from mlrsir.errors import ConfigError, MlrsirError
from mlrsir.methods.contrastive import SSL_DEFAULTS, ContrastiveHashingLoss
from mlrsir.methods.registry import get_method
from mlrsir.methods.similarity_distillation import SimilarityDistillationLoss
from mlrsir.metrics.protocol import all_but_query_metrics, evaluate_method
from mlrsir.models.build import build_model
from mlrsir.models.input_spec import input_spec, load_band_array
from mlrsir.models.mixed_precision import bf16_autocast
from mlrsir.models.mlrsir_net import MLRSIRNet
from mlrsir.run.checkpoint import load_checkpoint, load_tensors, save_checkpoint, save_tensors
from mlrsir.run.config import TrainConfig, config_differences, finetune_top
from mlrsir.run.label_scorer import LABEL_SCORER_FILE, LabelScorerData, save_label_scorer
from mlrsir.run.run_dir import RunPaths, check_output_folder, environment, git_revision, write_json_atomic
from mlrsir.training.archive_data import archive_split, load_archive_images
from mlrsir.training.batches import batch_positions, step_generator
from mlrsir.training.ddp import current as dist_current
from mlrsir.training.feature_cache import load_or_compute_aggregates, load_or_compute_trunk, pooled_view0
from mlrsir.training.neighbour_targets import NeighbourTargets
from mlrsir.training.supervision import labelled_subset


def set_deterministic() -> None:
    """Bit-for-bit repeatable training given the seed (``--deterministic``): deterministic
    torch kernels (an error where none exists) and one intra-op CPU thread (multi-threaded
    CPU reductions sum in a varying order). Applies to the whole process."""

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)


class NonFiniteLossError(MlrsirError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class PreparedData:
    """Everything about the data a run needs, loaded once (shared by benchmark runs)."""

    dataset: Any
    split: Any
    images: np.ndarray  # (N, 3, S, S) uint8; multispectral: (N, C, S, S) float32 0..255 (models/input_spec.py)
    labels: np.ndarray | None  # (N, C) uint8; None: no labels (train --supervision none only, no metrics)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)


def prepare_data(config: TrainConfig, split_path: Path, progress: bool = True) -> PreparedData:
    """Load the dataset, its split (created and saved to ``split_path`` if missing) and images.

    ``config.images`` (``train --supervision none --images ...``): the items of those inputs,
    no labels (``labels=None``; :mod:`mlrsir.training.archive_data`)."""
    if config.images:
        archive, archive_images = load_archive_images(config, progress=progress)
        split = archive_split(archive, split_path, config.split_seed)
        return PreparedData(dataset=archive, split=split, images=archive_images, labels=None)
    if not config.root:
        raise ConfigError("--root is required: the folder holding the dataset")
    spec = input_spec(config)
    dataset = load_dataset(config.dataset, config.root, **spec.dataset_options())
    split = load_or_create_split(
        split_path,
        dataset,
        seed=config.split_seed,
        test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
        protocol=config.protocol,
    )
    if spec.multispectral:
        images = load_band_array(dataset, config.image_size, progress=progress)
    else:
        images = load_image_array(dataset, config.image_size, progress=progress)
    return PreparedData(dataset=dataset, split=split, images=images, labels=np.asarray(dataset.labels, dtype=np.uint8))


def feature_key(config: TrainConfig) -> dict[str, Any]:
    return {
        "backbone": config.backbone,
        "weights": config.weights,
        "image_size": config.image_size,
        "multi_level": config.multi_level,
        "pool_size": config.pool_size,
    } | (  # multispectral runs only (8-bit RGB keys unchanged)
        {"bands": config.bands, "radiometry": json.dumps(dict(config.radiometry), sort_keys=True)}
        if input_spec(config).multispectral
        else {}
    )


def _make_optimizer(config: TrainConfig, model: MLRSIRNet) -> torch.optim.Optimizer:
    head = [p for p in model.head_parameters() if p.requires_grad]
    groups = [{"params": head, "lr": config.lr}]
    if config.finetune != "none":  # top1/top2: only the trained stages require grad
        groups.append({"params": [p for p in model.backbone_parameters() if p.requires_grad], "lr": config.backbone_lr})
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay)


class Trainer:
    """Trains one run. Use :func:`train` unless you need the pieces."""

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | Path,
        data: PreparedData | None = None,
        progress: bool = True,
        log: Callable[[str], None] = print,
        feature_cache: dict | None = None,
    ):
        # resolved and validated once, by resolve_config (method_params complete, so
        # config.json records every hyperparameter the run used)
        self.config = config
        if config.deterministic:
            set_deterministic()
        self.inputs = input_spec(config)  # 8-bit RGB or N bands: normalisation, augmentation
        self.paths = RunPaths(run_dir)
        self.progress = progress
        self.dist = dist_current()  # torch.distributed hooks (no-ops in one process)
        self.progress = progress and self.dist.is_main
        self.log = log if self.dist.is_main else (lambda message: None)
        self.device = resolve_device(config.device)
        if self.dist.is_main:
            check_output_folder(self.paths.root)  # never train into (and overwrite) a user's folder
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._check_config_matches()
        if not self.dist.is_main:
            self.dist.barrier()  # rank 0 writes config, split and feature cache first
        else:
            write_json_atomic(self.paths.config, self.config.to_dict())
        self.data = data or prepare_data(config, self.paths.split, progress=self.progress)
        if data is not None and not self.paths.split.is_file() and self.dist.is_main:
            save_split(self.data.split, self.paths.split)
        self.train_idx, self.query_idx, self.db_idx = protocol_indices(self.data.split, config.eval_split)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % (2**32))
        self.method = get_method(self.config.method, self.config.bits, **self.config.method_params)
        self.model = build_model(config, self.method).to(self.device)
        self.features = None  # finetune="none": cached aggregates (N, V, C_agg, S, S)
        self.trunk: tuple[torch.Tensor, torch.Tensor] | None = None  # top1/top2: (pooled, last)
        self.top = finetune_top(config.finetune)
        if self.top >= 0:
            trained = {id(p) for p in self.model.top_parameters(self.top)} if self.top else set()
            for p in self.model.backbone_parameters():
                p.requires_grad_(id(p) in trained)
            self._load_cached_inputs(feature_cache)
        if self.dist.is_main:
            self.dist.barrier()
        self.dist.prepare_model(self.model, self.device)
        self.optimizer = _make_optimizer(config, self.model)
        # supervision "none": the labels are never read while training (evaluation only)
        self.supervision = config.supervision
        self.labels: torch.Tensor | None = None
        self.labelled: np.ndarray | None = None  # (N,) bool, "partial": rows whose labels train
        self.labelled_idx = np.zeros(0, dtype=np.int64)  # their indices, ascending
        if self.supervision != "none":
            self.labels = torch.from_numpy(np.asarray(self.data.labels).astype(np.float32))
        if self.supervision == "partial":
            self.labelled = labelled_subset(
                np.asarray(self.data.labels)[self.train_idx], self.train_idx, len(self.data.images), config
            )
            self.labelled_idx = np.flatnonzero(self.labelled).astype(np.int64)
        # the label-free term: None with full supervision, and under "partial" when its weight is
        # 0 and the labelled images have a batch of their own (the validated default)
        uses_label_free = self.supervision == "none" or (
            self.supervision == "partial" and not (config.labelled_batch_size > 0 and config.ssl_weight == 0)
        )
        self.ssl_loss: ContrastiveHashingLoss | SimilarityDistillationLoss | None = None
        self.neighbour_targets: NeighbourTargets | None = None
        if uses_label_free and config.label_free_objective == "neighbours":
            self.ssl_loss = SimilarityDistillationLoss(SSL_DEFAULTS["quant_weight"])
            self.neighbour_targets = self._build_neighbour_targets()
        elif uses_label_free:
            self.ssl_loss = ContrastiveHashingLoss(config.ssl_temperature, SSL_DEFAULTS["quant_weight"])
        self._needs_refit = bool(getattr(self.method, "needs_refit", self.method.retrieval == "aqd"))
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.train_seconds = 0.0

    def _load_cached_inputs(self, feature_cache: dict | None) -> None:
        """The frozen part of the network run once per image and view (shared by the runs
        of a grid through ``feature_cache``): aggregates (``none``) or the trunk below the
        trained stages (``top1``/``top2``)."""
        config = self.config
        views = 8 if config.augment else 1
        key = feature_key(config)
        cache_key = repr(sorted(key.items())) + f"views={views}" + (f"top={self.top}" if self.top else "")
        if feature_cache is not None and cache_key in feature_cache:
            cached = feature_cache[cache_key]
        else:
            common = dict(views=views, device=self.device, progress=self.progress, normalize=self.inputs.normalize)
            if self.top:
                pooled, last = load_or_compute_trunk(self.model, self.data.images, key, self.top, **common)
                cached = (torch.from_numpy(np.ascontiguousarray(pooled)), torch.from_numpy(np.ascontiguousarray(last)))
            else:
                agg = load_or_compute_aggregates(self.model, self.data.images, key, **common)
                cached = torch.from_numpy(np.ascontiguousarray(agg))
            if feature_cache is not None:
                feature_cache[cache_key] = cached
        if self.top:
            self.trunk = cached
        else:
            self.features = cached

    def _build_neighbour_targets(self) -> NeighbourTargets:
        """Pseudo-similarity targets of the training images from the frozen network's pooled
        multi-level features (view 0), computed before any training step."""
        if self.features is not None:  # finetune="none": the cached aggregates hold view 0
            aggregates: Any = self.features[:, :1]
        else:
            aggregates = load_or_compute_aggregates(
                self.model,
                self.data.images,
                feature_key(self.config),
                views=1,
                device=self.device,
                progress=self.progress,
                normalize=self.inputs.normalize,
            )
        pooled = pooled_view0(aggregates)
        return NeighbourTargets(pooled[self.train_idx], self.train_idx, self.config.neighbour_k, self.config.seed)

    def _forward_cached(self, idx: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """Head outputs ``(B, D)`` of images ``idx`` under dihedral ``views`` from the cache."""
        if self.trunk is not None:
            pooled, last = (t[idx, views].float().to(self.device) for t in self.trunk)
            # channels-last activations select oneDNN's faster depthwise-convolution
            # backward on CPU (~1.6x per step, measured); the values are unchanged.
            last = last.contiguous(memory_format=torch.channels_last)
            return self.model.head(self.model.aggregate_from(pooled, last, self.top))
        assert self.features is not None
        return self.model.head(self.features[idx, views].float().to(self.device))

    def _two_views(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Label-free batch of ``step``: head outputs ``h1, h2 (B, D)`` of two random views
        of the same ``B`` training images, and the images' indices ``(B,)``. Cached inputs: two
        different dihedral views of the cache; ``finetune="all"``: two
        :func:`~mlrsir.data.transforms.contrastive_view` draws (dihedral, resized crop,
        per-band jitter, band dropout)."""
        pos = batch_positions(len(self.train_idx), self.config.batch_size, self.config.seed, step)
        idx = torch.from_numpy(self.train_idx[pos])
        gen = step_generator(self.config.seed, step)
        cached = self.features if self.features is not None else (self.trunk[0] if self.trunk is not None else None)
        if cached is not None:
            nviews = cached.shape[1]
            v1 = torch.randint(0, nviews, (len(idx),), generator=gen)
            shift = torch.randint(1, nviews, (len(idx),), generator=gen) if nviews > 1 else torch.zeros_like(v1)
            with self._autocast():
                out = self._forward_cached(torch.cat([idx, idx]), torch.cat([v1, (v1 + shift) % nviews]))
        else:
            raw = torch.from_numpy(self.data.images[idx.numpy()])
            both = torch.cat([contrastive_view(raw, gen), contrastive_view(raw, gen)])
            with self._autocast():
                out = self.model(self.inputs.normalize(both).to(self.device))
        out = out.float()
        return out[: len(idx)], out[len(idx) :], idx

    def _label_free_term(self, step: int) -> tuple[torch.Tensor, dict[str, float], torch.Tensor, torch.Tensor]:
        """The label-free loss of ``step``: (scalar, parts, head outputs ``(B, D)`` of one view
        of the batch, the batch's image indices ``(B,)``)."""
        if isinstance(self.ssl_loss, SimilarityDistillationLoss):
            assert self.neighbour_targets is not None
            out, idx = self._batch_outputs(step)
            loss, parts = self.ssl_loss(out, self.neighbour_targets(idx.numpy()).to(self.device))
            return loss, parts, out, idx
        assert self.ssl_loss is not None
        h1, h2, idx = self._two_views(step)
        loss, parts = self.ssl_loss(h1, h2)
        return loss, parts, h1, idx

    def _loss(self, step: int) -> tuple[torch.Tensor, dict[str, float], int]:
        """The training loss of ``step`` for the run's supervision mode: (scalar, parts, batch size)."""
        partial = self.labelled is not None and self.labels is not None
        if not partial and self.ssl_loss is None:
            out, labels = self._train_batch(step)
            loss, parts = self.method.loss(out, labels)
            return loss, parts, len(labels)
        own_batch = partial and self.config.labelled_batch_size > 0
        loss, parts, size = torch.zeros((), device=self.device), {}, 0
        if self.ssl_loss is not None:  # None under the validated partial default: no label-free pass
            ssl, ssl_parts, h1, idx = self._label_free_term(step)
            loss, parts, size = (self.config.ssl_weight * ssl if partial else ssl), dict(ssl_parts), len(idx)
        if partial:  # ssl_weight x label-free loss (all images) + the method's loss on labelled images
            assert self.labelled is not None and self.labels is not None
            if own_batch:  # a batch of its own from the labelled subset
                out, labels = self._train_batch(step, self.labelled_idx, self.config.labelled_batch_size, stream=1)
                size = size or len(labels)
            else:  # the labelled images that fell into the random batch
                mine = torch.from_numpy(self.labelled[idx.numpy()])
                out, labels = h1[mine], self.labels[idx[mine]].to(self.device)
            if len(labels) >= 2:  # a pairwise loss needs two labelled images
                sup, sup_parts = self.method.loss(out, labels)
                loss = loss + sup
                parts.update({f"supervised_{k}": v for k, v in sup_parts.items()})
        parts["total"] = float(loss.detach())
        return loss, parts, size

    def _set_train_mode(self) -> None:
        """Dropout and the trained layers in training mode; a backbone that is frozen or
        only partly trained (``top1``/``top2``) keeps its BatchNorm statistics (eval mode),
        so training and inference normalise alike."""
        self.model.train()
        if self.config.finetune != "all":
            self.model.backbone.eval()

    # -- bookkeeping -------------------------------------------------------------------
    def _check_config_matches(self) -> None:
        if self.paths.config.is_file():
            diff = config_differences(TrainConfig.load(self.paths.config), self.config)
            if diff:
                raise ConfigError(
                    f"{self.paths.root} already holds a run with another configuration "
                    f"(differs in {', '.join(diff)}); choose another --out or delete that folder"
                )

    def _resume(self) -> None:
        ckpt = load_checkpoint(self.paths.checkpoint)
        if ckpt is None:
            return
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["method"]:
            self.method.load_state_dict(ckpt["method"])
        state = ckpt["state"]
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        self.train_seconds = float(state.get("train_seconds", 0.0))
        self.log(f"resumed from {self.paths.checkpoint} at iteration {self.step}/{self.config.iterations}")

    def _save_checkpoint(self) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(
            self.paths.checkpoint,
            model=self.model,
            optimizer=self.optimizer,
            method_state=self.method.state_dict(),
            state={"step": self.step, "history": self.history, "train_seconds": self.train_seconds},
        )

    # -- forward passes ------------------------------------------------------------------
    def _autocast(self) -> AbstractContextManager:
        """The training forward pass's precision: bfloat16 autocast with ``train_precision="bf16"``
        (depthwise convolutions in fp32: :func:`~mlrsir.models.mixed_precision.bf16_autocast`)."""
        bf16 = self.config.train_precision == "bf16"
        return bf16_autocast(self.model, self.device.type, enabled=bf16)

    def _train_batch(
        self, step: int, pool: np.ndarray | None = None, batch_size: int | None = None, stream: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Supervised batch of ``step``: :meth:`_batch_outputs` and the batch's labels ``(B, C)``."""
        assert self.labels is not None
        out, idx = self._batch_outputs(step, pool, batch_size, stream)
        return out, self.labels[idx].to(self.device)

    def _batch_outputs(
        self, step: int, pool: np.ndarray | None = None, batch_size: int | None = None, stream: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Head outputs ``(B, D)`` of one random view of the ``B`` images of ``step`` drawn from
        ``pool`` (default: the training images; ``B`` = ``batch_size``, default the run's) and
        their indices ``(B,)``. ``stream`` > 0: an independent batch sequence
        (:func:`~mlrsir.training.batches.batch_positions`)."""
        pool = self.train_idx if pool is None else pool
        size = self.config.batch_size if batch_size is None else batch_size
        pos = batch_positions(len(pool), size, self.config.seed, step, stream)
        idx = torch.from_numpy(pool[pos])
        gen = step_generator(self.config.seed, step, stream)
        mine = self.dist.shard(len(idx))  # all rows in one process; a disjoint share per rank
        cached = self.features if self.features is not None else (self.trunk[0] if self.trunk is not None else None)
        if cached is not None:
            views = torch.randint(0, cached.shape[1], (len(idx),), generator=gen)
            with self._autocast():
                out = self._forward_cached(idx[mine], views[mine])
        else:
            raw = torch.from_numpy(self.data.images[idx.numpy()])
            if self.config.augment:
                raw = self.inputs.augment(raw, gen, self.config.color_jitter)
            with self._autocast():
                out = self.model(self.inputs.normalize(raw[mine]).to(self.device))
        out = self.dist.gather_rows(out.float(), len(idx))  # global batch, global-loss gradients
        return out, idx

    @torch.no_grad()
    def outputs(self, indices: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
        """Head outputs ``(n, D)`` float32 of the un-augmented images (view 0)."""
        self.model.eval()
        indices = np.arange(len(self.data.images)) if indices is None else np.asarray(indices)
        chunks = []
        for start in range(0, len(indices), batch_size):
            idx = indices[start : start + batch_size]
            if self.features is not None or self.trunk is not None:
                rows = torch.from_numpy(idx)
                out = self._forward_cached(rows, torch.zeros_like(rows))
            else:
                out = self.model(self.inputs.normalize(torch.from_numpy(self.data.images[idx])).to(self.device))
            chunks.append(out.float().cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, self.method.out_dim), np.float32)

    def _refit(self) -> None:
        if self.dist.is_main or not self._needs_refit:
            out = self.outputs(self.train_idx)
            labels = None if self.supervision == "none" else np.asarray(self.data.labels)[self.train_idx]
            self.method.refit(out, labels)
        if self._needs_refit:
            self.dist.broadcast_method(self.method)  # every rank uses rank 0's codebooks

    # -- main loop ---------------------------------------------------------------------
    def fit(self) -> None:
        cfg = self.config
        self._resume()
        if self.step == 0:
            self._refit()  # k-means initialisation of codebooks (no-op for hashing methods)
        bar = tqdm(
            total=cfg.iterations,
            initial=self.step,
            desc=f"train {cfg.method}/{cfg.bits}b",
            unit="it",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        start_time = time.perf_counter()
        seconds_before = self.train_seconds
        images_seen = 0
        while self.step < cfg.iterations:
            self._set_train_mode()
            loss, parts, batch = self._loss(self.step)
            if not torch.isfinite(loss):
                bar.close()
                raise NonFiniteLossError(
                    f"loss became {loss.item()} at iteration {self.step}; training stopped. "
                    f"The last good checkpoint is kept in {self.paths.checkpoint} "
                    f"(lower --lr or check the data)"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.dist.average_gradients(self.model)
            self.optimizer.step()
            self.step += 1
            images_seen += batch
            elapsed = time.perf_counter() - start_time
            self.train_seconds = seconds_before + elapsed
            if self.step % 10 == 0 or self.step == cfg.iterations:
                record = {"step": self.step, "loss": float(loss.item())}
                record.update({k: float(v) for k, v in parts.items()})
                self.history.append(record)
                bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{images_seen / max(elapsed, 1e-9):.0f}")
            bar.update(1)
            if self._needs_refit and cfg.refit_every and self.step % cfg.refit_every == 0:
                self._refit()
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0 and self.step < cfg.iterations:
                self._save_checkpoint()
        bar.close()
        if self._needs_refit:
            self._refit()
        self._save_checkpoint()

    def evaluate(self, curves: bool = True, out: np.ndarray | None = None) -> dict[str, Any]:
        """Retrieval metrics of the protocol (queries vs database) for the current weights:
        :func:`~mlrsir.metrics.protocol.evaluate_method` (headline ``map``, per-query AP,
        asymmetric tie-break/asymmetric mAP for hashing methods, distinct database codes)
        plus the ``all_but_query_*`` columns (database = queries ∪ database minus the query).
        ``out``: :meth:`outputs` of every image when already computed."""
        out = self.outputs() if out is None else out
        labels, q, db = self.data.labels, self.query_idx, self.db_idx
        metrics = evaluate_method(self.method, out[q], out[db], labels[q], labels[db], curves=curves)
        metrics.update(all_but_query_metrics(self.method, out, labels, self.query_idx, self.db_idx))
        return metrics

    def label_scorer_items(self) -> np.ndarray | None:
        """Dataset indices whose codes and labels make the run's label scorer: the training
        split (only its labelled part under ``--supervision partial``); None when the run
        has none (no labels, or not a hashing method)."""
        if self.supervision == "none" or self.data.labels is None or self.method.retrieval != "hamming":
            return None
        items = np.asarray(self.train_idx, dtype=np.int64)
        if self.labelled is not None:
            items = items[self.labelled[items]]
        return items

    def save_label_scorer(self, out: np.ndarray) -> Path | None:
        """Write ``RUN/label_scorer.npz`` (:mod:`mlrsir.run.label_scorer`) from :meth:`outputs`
        ``out (N, bits)`` of every image; returns its path, or None when the run has none."""
        items = self.label_scorer_items()
        if items is None:
            return None
        scorer = LabelScorerData(
            codes=binarize(out[items]),
            labels=np.asarray(self.data.labels)[items],
            classes=list(self.data.dataset.classes),
            items=items,
        )
        return save_label_scorer(self.paths.root, scorer)

    def save_final(self, metrics: dict[str, Any]) -> None:
        save_tensors(self.model.state_dict(), self.paths.model)
        method_state = self.method.state_dict()
        if method_state:
            save_tensors(method_state, self.paths.method)
        write_json_atomic(
            self.paths.meta,
            {
                "git": git_revision(),
                "environment": environment(),
                "train_seconds": self.train_seconds,
                "iterations": self.step,
                "history": self.history[-50:],
                "eval_split": self.config.eval_split,
                "protocol": self.config.protocol,
                "unseen_scenes": getattr(self.data.split, "unseen_scenes", None),
                "deterministic": self.config.deterministic,
                "num_train": int(len(self.train_idx)),
                "num_queries": int(len(self.query_idx)),
                "num_database": int(len(self.db_idx)),
                "dataset_note": self.data.dataset.NOTE,
                "classes": list(self.data.dataset.classes),
                "inputs": self.inputs.describe(),
            }
            | label_scorer_record(self.config, self.label_scorer_items()),
        )
        write_json_atomic(self.paths.metrics, metrics)


def label_scorer_record(config: TrainConfig, items: np.ndarray | None = None) -> dict[str, Any]:
    """``meta.json`` keys about the run's label scorer: for a ``--supervision none`` run that
    it has none and why; with the training ``items`` it was fitted on, the file and their
    count (``{}`` otherwise, e.g. quantization methods)."""
    if config.supervision == "none":
        return {
            "label_scorer": None,
            "label_scorer_reason": "trained with --supervision none: no labels to fit a label scorer from",
        }
    if items is None:
        return {}
    part = "labelled part of the training split" if config.supervision == "partial" else "training split"
    return {"label_scorer": {"file": LABEL_SCORER_FILE, "items": int(len(items)), "from": part}}


def _reevaluate(config: TrainConfig, run_dir: str | Path, old_metrics: dict, **options: Any) -> dict[str, Any]:
    """A finished run whose metrics predate the per-query columns: its saved final weights
    (and codebooks) evaluated again with today's metrics; training time kept."""
    trainer = Trainer(config, run_dir, **options)
    trainer.log(f"{trainer.paths.root}: finished run without per-query metrics, re-evaluating its weights")
    trainer.model.load_state_dict(load_tensors(trainer.paths.model))
    if trainer.paths.method.is_file():
        trainer.method.load_state_dict(load_tensors(trainer.paths.method))
    metrics = trainer.evaluate(curves=True)
    metrics["train_seconds"] = old_metrics.get("train_seconds")
    write_json_atomic(trainer.paths.metrics, metrics)
    return metrics


def train(config: TrainConfig, run_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Train (or resume, or reuse a finished run) and return its metrics dict.

    ``options`` are :class:`Trainer`'s keyword arguments (``data``, ``progress``, ``log``,
    ``feature_cache``).
    """
    log = options.get("log", print)
    paths = RunPaths(run_dir)
    if paths.is_finished() and paths.config.is_file():
        if not config_differences(TrainConfig.load(paths.config), config):
            metrics = json.loads(paths.metrics.read_text())
            if "per_query_ap" in metrics:
                log(f"{paths.root}: finished run found, reusing its metrics")
                return metrics
            return _reevaluate(config, run_dir, metrics, **options)
    trainer = Trainer(config, run_dir, **options)
    trainer.fit()
    metrics = None
    if trainer.dist.is_main:  # one evaluation and one writer; the other ranks get its metrics
        if trainer.data.labels is None:
            log("no labels in this data: retrieval metrics skipped (the codes and weights are saved)")
            metrics = {"map": None, "note": "no labels: metrics skipped"}
        else:
            out = trainer.outputs()
            metrics = trainer.evaluate(curves=True, out=out)
            trainer.save_label_scorer(out)
        metrics["train_seconds"] = trainer.train_seconds
        trainer.save_final(metrics)
    return trainer.dist.broadcast_object(metrics)
