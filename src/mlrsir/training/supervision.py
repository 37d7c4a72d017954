"""Which training images keep their labels under ``--supervision partial``."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlrsir.data.stratify import iterative_stratification


def labelled_subset(train_labels: np.ndarray, train_idx: np.ndarray, num_images: int, config: Any) -> np.ndarray:
    """``(num_images,)`` bool: True on a seeded, label-stratified ``config.label_fraction`` of
    the training images ``train_idx`` (labels ``train_labels (T, C)``), at least 2 of them.

    Stratified by :func:`mlrsir.data.stratify.iterative_stratification` with the run's
    ``seed``, so the same seed and fraction always label the same images.
    """
    fraction = float(config.label_fraction)
    mask = np.zeros(num_images, dtype=bool)
    if fraction >= 1.0:
        mask[train_idx] = True
        return mask
    subset = iterative_stratification(
        np.asarray(train_labels), [fraction, 1.0 - fraction], np.random.default_rng([int(config.seed), 25])
    )
    chosen = np.asarray(train_idx)[np.asarray(subset) == 0]
    if len(chosen) < 2:
        chosen = np.asarray(train_idx)[:2]
    mask[chosen] = True
    return mask
