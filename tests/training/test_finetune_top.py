"""Issue 15 item 1: top-stage fine-tuning on cached lower-stage outputs (``--finetune top1|top2``).

The cached path must compute exactly the network that inference runs: the trunk split
(``forward_until`` + ``forward_from``) equals ``forward``, the cached head outputs equal
the full model's on the same images, and only the top stages, CBAM and the head learn
(lower stages and every BatchNorm statistic stay as loaded).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.models.mlrsir_net import MLRSIRNet
from mlrsir.run.config import resolve_config
from mlrsir.training.trainer import Trainer
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return MLRSIRNet("efficientnet_lite0", 16, weights="none").eval()


@pytest.mark.parametrize("top", [1, 2])
def test_trunk_split_equals_forward(net, top):
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        whole = net.backbone(x)
        lower = net.backbone.forward_until(x, top)
        upper = net.backbone.forward_from(lower[-1], top)
    assert len(lower) == 3 - top and len(upper) == top
    for a, b in zip(whole, lower + upper):
        assert torch.equal(a, b)


@pytest.mark.parametrize("multi_level", [True, False])
@pytest.mark.parametrize("top", [1, 2])
def test_aggregate_from_cached_trunk_equals_aggregate(top, multi_level):
    torch.manual_seed(1)
    model = MLRSIRNet("efficientnet_lite0", 16, weights="none", multi_level=multi_level).eval()
    x = torch.randn(3, 3, 48, 48)
    with torch.no_grad():
        pooled, last = model.frozen_trunk(x, top)
        assert torch.equal(model.aggregate_from(pooled, last, top), model.aggregate(x))
    if not multi_level:
        assert pooled.shape[1] == 0  # no frozen level is fused in the single-level ablation


def test_top_modules_are_the_last_stages(net):
    top1 = {id(p) for p in net.top_parameters(1)}
    top2 = {id(p) for p in net.top_parameters(2)}
    every = {id(p) for p in net.backbone_parameters()}
    head_conv = {id(p) for p in net.backbone.net._conv_head.parameters()}
    stem = {id(p) for p in net.backbone.net._conv_stem.parameters()}
    assert head_conv <= top1 < top2 < every and not (stem & top2)
    with pytest.raises(ConfigError, match="choose 1..2"):
        net.backbone.forward_until(torch.zeros(1, 3, 32, 32), 3)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=6, size=48)


def _trainer(tmp_path, root, **overrides):
    values = dict(root=str(root), weights="none", image_size=48, bits=16, batch_size=8, iterations=4, lr=1e-2)
    values.update(overrides)
    return Trainer(resolve_config("default", **values), tmp_path / "run", progress=False, log=lambda m: None)


@pytest.mark.parametrize("finetune", ["top1", "top2"])
def test_only_top_stages_and_head_learn(tmp_path, monkeypatch, tiny_root, finetune):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    trainer = _trainer(tmp_path, tiny_root, finetune=finetune, backbone_lr=1e-2)
    top = int(finetune[-1])
    model = trainer.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = {id(p) for p in model.top_parameters(top)}
    names = {id(p): n for n, p in model.named_parameters()}
    trainer._set_train_mode()
    out, labels = trainer._train_batch(0)
    loss, _ = trainer.method.loss(out, labels)
    loss.backward()
    for p in model.backbone_parameters():  # gradient flow: exactly the top stages
        if id(p) in trained:
            assert p.grad is not None and torch.isfinite(p.grad).all(), names[id(p)]
        else:
            assert p.grad is None, names[id(p)]
    assert any(p.grad.abs().sum() > 0 for p in model.top_parameters(top))
    trainer.optimizer.zero_grad()
    trainer.fit()
    after = model.state_dict()
    trained_names = {names[i] for i in trained}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    backbone_changed = {k for k in changed if k.startswith("backbone.")}
    assert backbone_changed and backbone_changed <= trained_names  # no BN statistic moved
    assert any(k.startswith("hash_head.") for k in changed) and any(k.startswith("cbam.") for k in changed)


def test_cached_outputs_equal_the_full_network(tmp_path, monkeypatch, tiny_root):
    """What training evaluates (cache) is what inference computes (full forward)."""
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    trainer = _trainer(tmp_path, tiny_root, finetune="top1", backbone_lr=1e-2)
    trainer.fit()
    cached = trainer.outputs()
    trainer.model.eval()
    with torch.no_grad():
        full = trainer.model(trainer.inputs.normalize(torch.from_numpy(trainer.data.images))).numpy()
    # the cache is float16 and computed with BatchNorm folded; the codes' signs agree
    assert np.abs(cached - full).max() < 2e-2
    assert (np.sign(cached) == np.sign(full)).mean() > 0.99


def test_cli_top1_run_encodes_with_its_trained_stages(tmp_path, monkeypatch, tiny_root):
    """``train --finetune top1`` then ``encode`` (the full network, fine-tuned stages included)."""
    import json

    from mlrsir.cli.main import main

    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    args = ["train", "--root", str(tiny_root), "--bits", "12", "--iterations", "3", "--batch-size", "8"]
    args += ["--weights", "none", "--image-size", "48", "--finetune", "top1", "--backbone-lr", "0.01"]
    assert main(args + ["--out", str(run), "--quiet"]) == 0
    assert json.loads((run / "config.json").read_text())["finetune"] == "top1"
    assert main(["encode", "--run", str(run), "--runtime", "torch", "--quiet"]) == 0
    with np.load(run / "codes.npz") as stored:
        assert stored["codes"].shape == (18, 12) and set(np.unique(stored["codes"])) <= {0, 1}
