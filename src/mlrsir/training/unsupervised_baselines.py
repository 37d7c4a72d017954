"""Label-free baselines (``itq``, ``lsh``) on the frozen ImageNet backbone's multi-level features.

Features: the frozen network's multi-level aggregate of view 0 (the feature cache of
``finetune="none"`` runs, :func:`~mlrsir.training.feature_cache.load_or_compute_aggregates`),
average-pooled over space: ``(N, C_agg)``. The baseline is fitted on the training images
alone and without labels; the labels of queries and database are read for evaluation only,
with the same metrics as a trained run (:func:`~mlrsir.metrics.protocol.evaluate_method`;
codes are ``binarize`` of the baseline's projection, ranking by Hamming distance).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.data.splits import protocol_indices
from mlrsir.methods.itq import UNSUPERVISED_BASELINES
from mlrsir.methods.registry import get_method
from mlrsir.metrics.protocol import evaluate_method
from mlrsir.models.build import build_model
from mlrsir.models.input_spec import input_spec
from mlrsir.run.config import TrainConfig
from mlrsir.training.feature_cache import load_or_compute_aggregates, pooled_view0
from mlrsir.training.trainer import PreparedData, feature_key, prepare_data


def pooled_backbone_features(config: TrainConfig, data: PreparedData, progress: bool = False) -> np.ndarray:
    """``(N, C_agg)`` float32: spatial mean of the frozen multi-level aggregate (view 0)."""
    method = get_method("mlrsir", config.bits)
    model = build_model(config, method)
    agg = load_or_compute_aggregates(
        model, data.images, feature_key(config), views=1, progress=progress, normalize=input_spec(config).normalize
    )
    return pooled_view0(agg)


def run_unsupervised_baseline(
    name: str, config: TrainConfig, split_path: Path, *, iterations: int = 50, progress: bool = False
) -> dict[str, Any]:
    """Fit ``name`` (``itq``/``lsh``) on the training images' features; metrics dict with ``fit_seconds``."""
    data = prepare_data(config, Path(split_path), progress=progress)
    train_idx, query_idx, db_idx = protocol_indices(data.split, config.eval_split)
    feats = pooled_backbone_features(config, data, progress=progress)
    start = time.perf_counter()
    cls = UNSUPERVISED_BASELINES[name]
    baseline = (
        cls(config.bits, iterations=iterations, seed=config.seed)
        if name == "itq"
        else cls(config.bits, seed=config.seed)
    )
    baseline.fit(feats[train_idx])
    seconds = time.perf_counter() - start
    proj = baseline.project(feats)
    # scaled into [-1, 1] (as tanh outputs are) for the asymmetric columns; the codes (signs) are unchanged
    proj = (proj / max(float(np.abs(proj).max()), 1e-12)).astype(np.float32)
    hamming = get_method("mlrsir", config.bits)  # binarize + Hamming ranking, as every hashing run
    labels = np.asarray(data.labels)
    metrics = evaluate_method(hamming, proj[query_idx], proj[db_idx], labels[query_idx], labels[db_idx], curves=False)
    metrics["fit_seconds"] = seconds
    metrics["baseline"] = name
    return metrics
