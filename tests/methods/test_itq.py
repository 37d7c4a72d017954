"""Issue 25: ITQ and random-hyperplane LSH, hand-checkable properties."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.methods.itq import ITQ, RandomHyperplaneLSH


@pytest.fixture()
def features():
    rng = np.random.default_rng(0)
    return rng.standard_normal((300, 40)) @ rng.standard_normal((40, 40)) + 5.0


def test_itq_rotation_is_orthogonal_and_loss_non_increasing(features):
    itq = ITQ(16, iterations=50, seed=0).fit(features)
    r = itq.rotation
    assert np.allclose(r @ r.T, np.eye(16), atol=1e-10)
    losses = np.array(itq.quantization_losses)
    assert len(losses) == 50 and np.all(np.diff(losses) <= 1e-8 * losses[0])
    assert losses[-1] < losses[0]


def test_itq_codes_match_sign_of_rotated_pca(features):
    itq = ITQ(8, iterations=5).fit(features)
    v = (features - features.mean(0)) @ itq.projection @ itq.rotation
    assert np.array_equal(itq.encode(features), (v > 0).astype(np.uint8))
    assert np.array_equal(ITQ(8, iterations=5).fit(features).encode(features), itq.encode(features))  # seeded


def test_lsh_is_seeded_and_bits_balanced_on_centred_data(features):
    a = RandomHyperplaneLSH(32, seed=1).fit(features).encode(features)
    b = RandomHyperplaneLSH(32, seed=1).fit(features).encode(features)
    c = RandomHyperplaneLSH(32, seed=2).fit(features).encode(features)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == (300, 32) and a.dtype == np.uint8
    assert np.all(np.abs(a.mean(axis=0) - 0.5) < 0.2)  # centred: each bit near half ones


def test_itq_needs_enough_dimensions():
    with pytest.raises(ConfigError, match="at least 16"):
        ITQ(16).fit(np.ones((10, 20)))


def test_baseline_runs_on_frozen_features_of_a_fixture(tmp_path, monkeypatch):
    from mlrsir.run.config import resolve_config
    from mlrsir.training.unsupervised_baselines import run_unsupervised_baseline
    from tests.fixtures.make_datasets import make_ucm_fixture

    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    root = make_ucm_fixture(tmp_path / "ucm", scenes=3, per_scene=8, size=48)
    config = resolve_config("default", root=str(root), weights="none", image_size=48, bits=8, finetune="none")
    for name in ("itq", "lsh"):
        metrics = run_unsupervised_baseline(name, config, tmp_path / "split.json", iterations=5)
        assert 0.0 < metrics["map"] <= 1.0 and metrics["baseline"] == name
