"""Issue 25: pseudo-similarity targets from the frozen features (database-side augmentation)."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.training import neighbour_targets as nt
from mlrsir.training.neighbour_targets import NeighbourTargets, neighbourhood_descriptors


def test_descriptors_hand_computed(monkeypatch):
    monkeypatch.setattr(nt, "POWER", 1.0)  # no power normalisation: the plain unit rows
    f = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 2.0]])
    # k = 1: the unit rows themselves
    assert np.allclose(neighbourhood_descriptors(f, 1), [[1, 0], [0.8, 0.6], [0, 1], [0, 1]])
    # k = 2: each image plus its nearest other (cosine): 0 -> 1, 1 -> 0 (0.8 > 0.6), 2 -> 3 and 3 -> 2 (tie-free)
    g = neighbourhood_descriptors(f, 2)
    s01 = np.array([1.8, 0.6]) / np.linalg.norm([1.8, 0.6])
    assert np.allclose(g[0], s01) and np.allclose(g[1], s01)
    assert np.allclose(g[2], [0, 1]) and np.allclose(g[3], [0, 1])
    assert np.allclose(np.linalg.norm(g, axis=1), 1.0)


def test_power_normalisation_is_signed():
    # sign(f) |f|^0.5 before normalising: (4, -1) -> (2, -1) / sqrt(5)
    assert nt.POWER == 0.5
    assert np.allclose(
        neighbourhood_descriptors(np.array([[4.0, -1.0], [0.0, 9.0]]), 1)[0], np.array([2, -1]) / np.sqrt(5)
    )


def test_ties_go_to_the_lower_index_and_chunks_change_nothing(monkeypatch):
    monkeypatch.setattr(nt, "POWER", 1.0)
    f = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    # image 4 is equally near every other image: its neighbour (k = 2) is image 0
    g = neighbourhood_descriptors(f, 2)
    want = np.array([1.0, 1.0]) / np.sqrt(2) + np.array([1.0, 0.0])
    assert np.allclose(g[4], want / np.linalg.norm(want))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 5))
    whole = neighbourhood_descriptors(x, 4)
    monkeypatch.setattr(nt, "SEARCH_CHUNK", 5)
    assert np.allclose(neighbourhood_descriptors(x, 4), whole)


def test_targets_are_symmetric_scaled_and_clipped():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(40, 6))
    rows = np.arange(100, 140)
    targets = NeighbourTargets(f, rows, k=3, seed=0)
    idx = np.array([100, 117, 139, 120])
    t = targets(idx).numpy()
    assert t.shape == (4, 4) and np.allclose(t, t.T) and (t >= -1).all() and (t <= 1).all()
    s = targets.similarity(idx)
    want = np.clip(2 * (s - targets.low) / (targets.high - targets.low) - 1, -1, 1)
    assert np.allclose(t, want) and np.allclose(np.diag(t), 1.0)  # s_ii = 1 >= the high quantile
    again = NeighbourTargets(f, rows, k=3, seed=0)
    assert (again.low, again.high) == (targets.low, targets.high)  # seeded pair sample


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="at least 1"):
        neighbourhood_descriptors(np.eye(3), 0)
    with pytest.raises(ConfigError, match="all alike"):
        NeighbourTargets(np.ones((5, 3)), np.arange(5), k=1)
    targets = NeighbourTargets(np.random.default_rng(2).normal(size=(4, 3)), np.array([0, 2, 4, 6]), k=1)
    with pytest.raises(ValueError, match="outside the training set"):
        targets(np.array([0, 1]))
