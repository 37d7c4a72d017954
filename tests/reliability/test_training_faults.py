"""Training faults: kill + resume gives the same result; NaN loss stops cleanly; crafted
pickles in checkpoints or weights are refused without running code.

Tiny runs: UCM-like fixture (3 scenes x 8 images), random-init EfficientNet-Lite0 at 32 px,
frozen backbone (cached features, no augmentation views), 6 iterations, a checkpoint
every 2.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.run.checkpoint import load_checkpoint, load_tensors
from mlrsir.run.config import resolve_config
from mlrsir.training.trainer import NonFiniteLossError, Trainer, train
from tests.fixtures.make_datasets import make_ucm_fixture

# Resumed and uninterrupted runs must agree to this tolerance (metrics and weights). The
# loop is deterministic per (seed, step) and the checkpoint holds model, optimizer and
# step exactly, so on one machine they are in fact bit-identical; the tolerance only
# allows for float re-association on other hardware.
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def ucm(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=8, size=40)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    """Decoded images and backbone features go to a folder of this module (shared by its
    tests: the features of the frozen backbone are computed once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRSIR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def config(root, **kw):
    values = dict(
        dataset="ucm",
        root=str(root),
        weights="none",
        image_size=32,
        iterations=6,
        checkpoint_every=2,
        batch_size=8,
        bits=16,
        device="cpu",
        seed=3,
        augment=False,
    )  # one view: features computed in ~1 s
    values.update(kw)
    return resolve_config("default", **values)


class Interrupted(Exception):
    """Stands in for the process dying (no code after it runs)."""


def test_killed_training_resumes_to_the_same_metrics(ucm, tmp_path):
    full = train(config(ucm), tmp_path / "full", progress=False, log=lambda s: None)

    run = tmp_path / "resumed"
    trainer = Trainer(config(ucm), run, progress=False, log=lambda s: None)
    real = trainer._train_batch

    def dies_at_step_3(step):
        if step == 3:  # after the checkpoint of step 2 and one more finished step (lost)
            raise Interrupted
        return real(step)

    trainer._train_batch = dies_at_step_3
    with pytest.raises(Interrupted):
        trainer.fit()
    state = json.loads((run / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2
    messages = []
    resumed = train(config(ucm), run, progress=False, log=messages.append)
    assert any("resumed from" in m and "iteration 2/6" in m for m in messages), messages
    for key in ("map", "map_stable", "precision_at_10", "ndcg_at_100"):
        assert abs(resumed[key] - full[key]) <= TOLERANCE, (key, resumed[key], full[key])
    a = load_tensors(tmp_path / "full" / "model.safetensors")
    b = load_tensors(run / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= TOLERANCE, worst


def test_nan_loss_stops_and_keeps_last_good_checkpoint(ucm, tmp_path):
    run = tmp_path / "nan"
    trainer = Trainer(config(ucm), run, progress=False, log=lambda s: None)
    real_loss = trainer.method.loss
    calls = {"n": 0}

    def loss(out, labels):
        calls["n"] += 1
        value, parts = real_loss(out, labels)
        return (value * float("nan") if calls["n"] == 5 else value), parts  # 5th step = iteration 4

    trainer.method.loss = loss
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit()
    message = str(info.value)
    assert "loss became nan at iteration 4" in message and str(run / "checkpoint") in message
    checkpoint = load_checkpoint(run / "checkpoint")  # intact and loadable
    assert checkpoint["state"]["step"] == 4
    assert all(torch.isfinite(t).all() for t in checkpoint["model"].values())
    assert not (run / "model.safetensors").exists()  # no final model from a diverged run


def _plant_pickle(path, marker):
    """A pickle whose loading would create ``marker`` (via ``__reduce__``)."""

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.write_bytes(pickle.dumps({"state": Evil()}))


def test_crafted_pickle_in_checkpoint_is_refused(ucm, tmp_path):
    run = tmp_path / "run"
    train(config(ucm, iterations=2), run, progress=False, log=lambda s: None)
    marker = tmp_path / "pwned"
    # 1) the optimiser state (torch.save format) replaced by a pickle with a payload
    folder = run / "checkpoint"
    evil = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state": Evil()}, evil)
    shutil.copy(evil, folder / "optimizer.pt")
    with pytest.raises(ConfigError, match="optimizer.pt: refused to load"):
        load_checkpoint(folder)
    assert not marker.exists()
    # 2) a raw pickle too
    _plant_pickle(folder / "optimizer.pt", marker)
    with pytest.raises(ConfigError, match="optimizer.pt"):
        load_checkpoint(folder)
    assert not marker.exists()
    # 3) model.safetensors that is really a pickle: checkpoint, and the encoder of a finished run
    _plant_pickle(folder / "model.safetensors", marker)
    with pytest.raises(ConfigError, match="not a valid safetensors"):
        load_tensors(folder / "model.safetensors")
    from mlrsir.inference.encoder import load_encoder

    _plant_pickle(run / "model.safetensors", marker)
    with pytest.raises(ConfigError, match="model.safetensors"):
        load_encoder(run)
    assert not marker.exists()


def test_index_file_that_is_a_pickle_is_refused(tmp_path):
    from mlrsir.errors import IndexStoreError
    from mlrsir.index.store import CodeIndex

    marker = tmp_path / "pwned"
    (tmp_path / "ix").mkdir()
    _plant_pickle(tmp_path / "ix" / "index.sqlite", marker)
    with pytest.raises(IndexStoreError, match="not an SQLite database"):
        CodeIndex.open(tmp_path / "ix")
    assert not marker.exists()


def test_codes_file_with_objects_is_refused(tmp_path):
    """``codes.npz`` is read with numpy's default ``allow_pickle=False``."""
    path = tmp_path / "codes.npz"
    np.savez(path, codes=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        with np.load(path) as data:
            data["codes"]
