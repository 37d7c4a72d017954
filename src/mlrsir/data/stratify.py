"""Iterative stratification of multi-label data (Sechidis, Tsoumakas, Vlahavas, 2011).

"On the Stratification of Multi-Label Data", ECML PKDD 2011, Algorithm 1. Examples
are distributed over k subsets with target proportions r_j so that every label is
spread over the subsets close to those proportions:

1. desired size c_j = r_j * N, and desired count of label l in subset j,
   c_j^l = r_j * |D^l| (D^l = examples having label l).
2. Repeat: among labels still carried by an unassigned example, take the label l with
   the fewest unassigned examples (rarest first; ties broken at random); give each of
   its examples (in random order) to the subset with the largest c_j^l, ties broken by
   the largest c_j, then at random; after each assignment decrease c_j and c_j^{l'} for
   every label l' of the example.
3. Examples without any label go to the subset with the largest c_j (ties at random).

Own implementation; the random generator makes the result a function of the seed.
"""

from __future__ import annotations

import numpy as np


def _pick(scores: list[np.ndarray], rng: np.random.Generator) -> int:
    """Index maximising scores[0], ties by scores[1], ..., remaining ties at random."""
    candidates = np.arange(len(scores[0]))
    for score in scores:
        values = score[candidates]
        candidates = candidates[np.isclose(values, values.max())]
        if len(candidates) == 1:
            return int(candidates[0])
    return int(rng.choice(candidates))


def iterative_stratification(
    labels: np.ndarray,
    proportions: list[float] | np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Assign each example to a subset.

    Args:
        labels: ``(N, C)`` binary (any integer/bool dtype).
        proportions: ``(k,)`` non-negative, summing to 1.
        rng: numpy Generator (tie breaking and example order).

    Returns:
        ``np.ndarray (N,) int64`` with values in ``0..k-1``.
    """
    labels = np.asarray(labels).astype(bool)
    proportions = np.asarray(proportions, dtype=np.float64)
    if labels.ndim != 2:
        raise ValueError(f"labels must be (N, C), got shape {labels.shape}")
    if (proportions < 0).any() or not np.isclose(proportions.sum(), 1.0):
        raise ValueError(f"proportions must be >= 0 and sum to 1, got {proportions.tolist()}")
    n = labels.shape[0]
    desired = proportions * n  # c_j
    desired_label = np.outer(proportions, labels.sum(axis=0))  # c_j^l, (k, C)
    assignment = np.full(n, -1, dtype=np.int64)
    unassigned = np.ones(n, dtype=bool)

    while True:
        remaining = labels[unassigned].sum(axis=0)
        present = np.flatnonzero(remaining > 0)
        if len(present) == 0:
            break
        fewest = remaining[present].min()
        label = int(rng.choice(present[remaining[present] == fewest]))
        examples = np.flatnonzero(unassigned & labels[:, label])
        for example in rng.permutation(examples):
            subset = _pick([desired_label[:, label], desired], rng)
            assignment[example] = subset
            unassigned[example] = False
            desired[subset] -= 1
            desired_label[subset] -= labels[example]

    for example in rng.permutation(np.flatnonzero(unassigned)):
        subset = _pick([desired], rng)
        assignment[example] = subset
        desired[subset] -= 1
    return assignment
