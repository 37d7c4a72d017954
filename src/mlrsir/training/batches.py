"""Deterministic, resumable mini-batch sampling.

Every step's batch and random augmentation are derived from ``(seed, step)`` alone, so a
run resumed from a checkpoint at step ``t`` sees exactly the batches the uninterrupted
run would have seen from step ``t`` on; no RNG state has to be saved.
"""

from __future__ import annotations

import numpy as np
import torch


def steps_per_epoch(num_items: int, batch_size: int) -> int:
    """Full batches per epoch (the last incomplete batch is dropped); at least 1."""
    return max(1, num_items // batch_size)


def batch_positions(num_items: int, batch_size: int, seed: int, step: int, stream: int = 0) -> np.ndarray:
    """Positions (into the training set, ``0..num_items-1``) of the batch of ``step``.

    Each epoch is a fresh permutation seeded by ``(seed, epoch)``; batches of one epoch
    are disjoint. ``stream`` > 0 draws an independent sequence of batches from the same
    seed (e.g. the labelled batches of ``--supervision partial`` beside the random ones).
    Returns an int64 array of length ``min(batch_size, num_items)``.
    """
    per_epoch = steps_per_epoch(num_items, batch_size)
    epoch, pos = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch] if stream == 0 else [seed, stream, epoch]).permutation(num_items)
    size = min(batch_size, num_items)
    return perm[pos * size : (pos + 1) * size].astype(np.int64)


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """Torch generator for the random augmentation of ``step`` (``stream`` > 0: an
    independent one, as in :func:`batch_positions`)."""
    key = [seed, 7919, step] if stream == 0 else [seed, 7919, stream, step]
    return torch.Generator().manual_seed(int(np.random.default_rng(key).integers(2**62)))
