"""Issue 25: ``--supervision none`` / ``partial`` training (label-free contrastive hashing)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.run.config import resolve_config
from mlrsir.training.trainer import Trainer, prepare_data, train
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=6, size=48)


def _config(root, **overrides):
    values = dict(root=str(root), weights="none", image_size=48, bits=16, batch_size=8, iterations=3, lr=1e-2)
    values.update(overrides)
    return resolve_config("default", **values)


class _LabelsThatRaise:
    """Stands in for the label matrix: any read fails the test."""

    def __array__(self, *args, **kwargs):
        raise AssertionError("labels were read")

    def __getitem__(self, item):
        raise AssertionError("labels were read")


@pytest.mark.parametrize("objective", ["contrastive", "neighbours"])
@pytest.mark.parametrize("finetune", ["none", "top1", "all"])
def test_gradients_reach_exactly_the_trained_parts(tmp_path, monkeypatch, tiny_root, finetune, objective):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(tiny_root, supervision="none", finetune=finetune, label_free_objective=objective)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    model = trainer.model
    trainer._set_train_mode()
    loss, parts, _ = trainer._loss(0)
    assert parts[{"contrastive": "contrastive", "neighbours": "similarity_fit"}[objective]] > 0
    assert "pairwise" not in parts
    loss.backward()
    # none: no backbone parameter gets a gradient; top1: exactly the top stage's; all: every one
    trained = {"none": set(), "top1": {id(p) for p in model.top_parameters(1)}, "all": None}[finetune]
    names = {id(p): n for n, p in model.named_parameters()}
    for p in model.backbone_parameters():
        if trained is None or id(p) in trained:
            assert p.grad is not None and torch.isfinite(p.grad).all(), names[id(p)]
        else:
            assert p.grad is None, names[id(p)]
    for prefix in ("hash_head.", "cbam."):
        grads = [p.grad for n, p in model.named_parameters() if n.startswith(prefix)]
        assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("objective", ["contrastive", "neighbours"])
def test_label_free_training_never_reads_labels_and_skips_metrics(tmp_path, monkeypatch, tiny_root, objective):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(tiny_root, supervision="none", label_free_objective=objective)
    data = prepare_data(config, tmp_path / "split.json", progress=False)
    data.labels = _LabelsThatRaise()  # type: ignore[assignment]
    trainer = Trainer(config, tmp_path / "run", data=data, progress=False)
    trainer.fit()  # would raise AssertionError on any label read
    data.labels = None
    messages: list[str] = []
    metrics = train(config, tmp_path / "run2", data=data, progress=False, log=messages.append)
    assert metrics["map"] is None and any("no labels" in m for m in messages)


def test_label_free_training_is_seeded(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    outs = []
    for run in ("a", "b"):
        trainer = Trainer(_config(tiny_root, supervision="none", deterministic=True), tmp_path / run, progress=False)
        trainer.fit()
        outs.append(trainer.outputs())
    assert np.array_equal(outs[0], outs[1])


def test_partial_supervision_adds_the_method_loss_on_labelled_rows(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(
        tiny_root,
        supervision="partial",
        label_fraction=0.5,
        labelled_batch_size=0,
        ssl_weight=1.0,
        label_free_objective="contrastive",
    )
    trainer = Trainer(config, tmp_path / "run", progress=False)
    labelled = trainer.labelled
    assert labelled is not None and not labelled[trainer.query_idx].any()
    share = labelled[trainer.train_idx].mean()
    assert 0.3 <= share <= 0.7
    _, parts, _ = trainer._loss(0)
    assert "supervised_pairwise" in parts and "contrastive" in parts
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["supervision"] == "partial" and stored["label_fraction"] == 0.5
    again = Trainer(config, tmp_path / "run2", progress=False).labelled
    assert np.array_equal(labelled, again)  # seeded


def test_bad_supervision_options_are_refused(tiny_root):
    with pytest.raises(ConfigError, match="--supervision"):
        _config(tiny_root, supervision="weak")
    with pytest.raises(ConfigError, match="needs --supervision partial"):
        _config(tiny_root, label_fraction=0.1)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        _config(tiny_root, supervision="partial", label_fraction=0.0)


def test_cli_train_without_labels_flag(tmp_path, monkeypatch, tiny_root, capsys):
    from mlrsir.cli.main import main

    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    args = ["train", "--root", str(tiny_root), "--weights", "none", "--image-size", "48", "--bits", "16"]
    args += ["--batch-size", "8", "--iterations", "2", "--supervision", "none", "--out", str(tmp_path / "r"), "--quiet"]
    assert main(args) in (0, None)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["supervision"] == "none"


def test_partial_labelled_batch_draws_only_labelled_images_and_is_seeded(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(
        tiny_root,
        supervision="partial",
        label_fraction=0.5,
        labelled_batch_size=4,
        ssl_weight=1.0,
        label_free_objective="contrastive",
    )
    trainer = Trainer(config, tmp_path / "run", progress=False)
    drawn: list[np.ndarray] = []
    real = trainer._train_batch

    def spy(step, pool=None, batch_size=None, stream=0):
        out, labels = real(step, pool, batch_size, stream)
        drawn.append(np.asarray(pool))
        return out, labels

    trainer._train_batch = spy  # type: ignore[method-assign]
    _, parts, _ = trainer._loss(0)
    assert "supervised_pairwise" in parts and "contrastive" in parts
    (pool,) = drawn
    assert np.array_equal(pool, np.flatnonzero(trainer.labelled))  # the labelled subset and nothing else
    from mlrsir.training.batches import batch_positions

    for step in range(6):  # every drawn image is labelled, 4 per step; an own sequence (stream 1)
        picked = pool[batch_positions(len(pool), 4, config.seed, step, stream=1)]
        assert len(picked) == 4 and trainer.labelled[picked].all()
    assert not np.array_equal(batch_positions(len(pool), 4, 0, 0, 1), batch_positions(len(pool), 4, 0, 0))


def test_partial_ssl_weight_scales_the_label_free_term(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    totals = {}
    for weight in (0.5, 1.0):
        config = _config(tiny_root, supervision="partial", label_fraction=0.5, labelled_batch_size=4, ssl_weight=weight)
        trainer = Trainer(config, tmp_path / f"run{weight}", progress=False)
        trainer._set_train_mode()
        loss, parts, _ = trainer._loss(0)
        totals[weight] = (float(loss.detach()), parts["ssl_total"], parts)
    # loss = supervised + weight x label-free: the same supervised part under both weights
    loss_half, ssl_half, parts_half = totals[0.5]
    loss1, ssl1, _ = totals[1.0]
    assert ssl_half == pytest.approx(ssl1)
    assert loss_half - 0.5 * ssl_half == pytest.approx(loss1 - ssl1, rel=1e-4, abs=1e-5)
    assert "supervised_pairwise" in parts_half


def test_partial_without_the_label_free_term_skips_the_two_views(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(tiny_root, supervision="partial", label_fraction=0.5, labelled_batch_size=4, ssl_weight=0.0)
    trainer = Trainer(config, tmp_path / "run", progress=False)

    def no_views(step):
        raise AssertionError("the label-free views were computed")

    trainer._two_views = no_views  # type: ignore[method-assign]
    trainer._label_free_term = no_views  # type: ignore[method-assign]
    assert trainer.ssl_loss is None and trainer.neighbour_targets is None
    loss, parts, size = trainer._loss(0)
    assert size == 4 and "supervised_pairwise" in parts and "contrastive" not in parts
    assert parts["total"] == pytest.approx(float(loss.detach()))


def test_partial_gradients_reach_the_head_through_the_labelled_batch(tmp_path, monkeypatch, tiny_root):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(tiny_root, supervision="partial", label_fraction=0.5, labelled_batch_size=4, ssl_weight=0.0)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    trainer._set_train_mode()
    loss, _, _ = trainer._loss(0)
    loss.backward()  # the label-free term weighs 0: every gradient comes from the labelled batch
    grads = [p.grad for n, p in trainer.model.named_parameters() if n.startswith("hash_head.")]
    assert grads and all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_partial_options_need_partial_and_old_configs_keep_their_behaviour(tmp_path, tiny_root):
    with pytest.raises(ConfigError, match="need --supervision partial"):
        _config(tiny_root, labelled_batch_size=8)
    with pytest.raises(ConfigError, match="need --supervision partial"):
        _config(tiny_root, supervision="none", ssl_weight=0.5)
    with pytest.raises(ConfigError, match="0 or at least 2"):
        _config(tiny_root, supervision="partial", label_fraction=0.5, labelled_batch_size=1)
    with pytest.raises(ConfigError, match=">= 0"):
        _config(tiny_root, supervision="partial", label_fraction=0.5, ssl_weight=-1.0)
    from mlrsir.run.config import PARTIAL_DEFAULTS, TrainConfig

    config = _config(tiny_root, supervision="partial", label_fraction=0.5)
    assert (config.labelled_batch_size, config.ssl_weight) == (
        PARTIAL_DEFAULTS["labelled_batch_size"],
        PARTIAL_DEFAULTS["ssl_weight"],
    )
    old = config.to_dict()
    del old["labelled_batch_size"], old["ssl_weight"]  # a config.json written before the options
    (tmp_path / "config.json").write_text(json.dumps(old))
    loaded = TrainConfig.load(tmp_path / "config.json")
    assert (loaded.labelled_batch_size, loaded.ssl_weight) == (0, 1.0)


def test_neighbours_objective_fits_the_batch_targets_of_the_frozen_features(tmp_path, monkeypatch, tiny_root):
    from mlrsir.methods.similarity_distillation import similarity_distillation
    from mlrsir.training.batches import batch_positions
    from mlrsir.training.feature_cache import load_or_compute_aggregates, pooled_view0
    from mlrsir.training.neighbour_targets import NeighbourTargets
    from mlrsir.training.trainer import feature_key

    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    config = _config(tiny_root, supervision="none", label_free_objective="neighbours", neighbour_k=3)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    targets = trainer.neighbour_targets
    assert targets is not None and targets.k == 3
    # built from the frozen network's pooled view-0 features of the training images only
    agg = load_or_compute_aggregates(
        trainer.model,
        trainer.data.images,
        feature_key(config),
        views=1,
        progress=False,
        normalize=trainer.inputs.normalize,
    )
    own = NeighbourTargets(pooled_view0(agg)[trainer.train_idx], trainer.train_idx, 3, config.seed)
    assert np.allclose(own.descriptors, targets.descriptors, atol=1e-5)
    assert set(np.flatnonzero(targets.position >= 0)) == set(trainer.train_idx.tolist())
    asked: list[np.ndarray] = []
    real_call = targets.__call__

    class Spy:
        def __call__(self, idx):
            asked.append(np.asarray(idx))
            return real_call(idx)

    trainer.neighbour_targets = Spy()  # type: ignore[assignment]
    trainer.model.eval()  # no dropout: the same outputs twice
    _, parts, size = trainer._loss(2)
    (idx,) = asked
    want_idx = trainer.train_idx[batch_positions(len(trainer.train_idx), config.batch_size, config.seed, 2)]
    assert np.array_equal(idx, want_idx) and size == len(idx)
    out, out_idx = trainer._batch_outputs(2)
    assert np.array_equal(out_idx.numpy(), want_idx)
    expected = float(similarity_distillation(out, real_call(want_idx)).detach())
    assert parts["similarity_fit"] == pytest.approx(expected, rel=1e-5)


def test_label_free_objective_options(tmp_path, tiny_root):
    from mlrsir.run.config import LABEL_FREE_DEFAULTS, TrainConfig

    config = _config(tiny_root, supervision="none")
    assert (config.label_free_objective, config.neighbour_k) == tuple(LABEL_FREE_DEFAULTS.values())
    assert _config(tiny_root, supervision="none", label_free_objective="contrastive").neighbour_k == 0
    full = _config(tiny_root)
    assert (full.label_free_objective, full.neighbour_k) == ("contrastive", 0)
    with pytest.raises(ConfigError, match="need --supervision none or partial"):
        _config(tiny_root, label_free_objective="neighbours")
    with pytest.raises(ConfigError, match="need --supervision none or partial"):
        _config(tiny_root, neighbour_k=5)
    with pytest.raises(ConfigError, match="needs --label-free-objective neighbours"):
        _config(tiny_root, supervision="none", label_free_objective="contrastive", neighbour_k=5)
    with pytest.raises(ConfigError, match=">= 1"):
        _config(tiny_root, supervision="none", neighbour_k=0)
    with pytest.raises(ConfigError, match="must be one of"):
        _config(tiny_root, supervision="none", label_free_objective="byol")
    # a label-free config written before the option trained with NT-Xent: it loads as such
    stored = config.to_dict()
    del stored["label_free_objective"], stored["neighbour_k"]
    (tmp_path / "config.json").write_text(json.dumps(stored))
    old = TrainConfig.load(tmp_path / "config.json")
    assert (old.label_free_objective, old.neighbour_k) == ("contrastive", 0)
