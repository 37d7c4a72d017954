"""12-band training on the 60 real BigEarthNet patches (v1 + npz-v1 + npz-v2) through the real path.

``mlrsir train --dataset bigearthnet --bands all`` (CLI) -> config/metrics/model written,
``mlrsir encode`` -> codes.npz (the 12-band checkpoint reloads in ``load_encoder``), and
``Encoder.encode_arrays`` gives the same codes. Gradients (trainer API, one step each mode):
``--finetune all`` -> every parameter of the network (widened stem included) gets a finite,
non-zero gradient; ``--finetune none`` (default) -> the trainable set is exactly CBAM + hash
head (the backbone is frozen, its features cached) and each of those gets a gradient.

Small and fast: 32 px inputs, 2 iterations of batch 4, 16 bits. The mAP is a smoke figure
only (60 patches are a functional test, not a benchmark).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlrsir.cli.main import main
from mlrsir.data.bigearthnet import ALL_BANDS
from mlrsir.run.checkpoint import load_tensors
from mlrsir.run.config import resolve_config
from mlrsir.training.trainer import Trainer, prepare_data


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRSIR_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


COMMON = dict(dataset="bigearthnet", bands="all", image_size=32, batch_size=4, bits=16, device="cpu", seed=0)


@pytest.fixture(scope="module")
def cli_run(ben_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ben12"
    args = ["train", "--dataset", "bigearthnet", "--root", str(ben_dir), "--bands", "all", "--finetune", "all"]
    args += ["--image-size", "32", "--iterations", "2", "--batch-size", "4", "--bits", "16", "--device", "cpu"]
    assert main([*args, "--quiet", "--json", "--out", str(out)]) == 0
    return out


def test_train_cli_writes_a_12_band_run(cli_run, capsys):
    config = json.loads((cli_run / "config.json").read_text())
    assert config["bands"] == "all" and config["dataset"] == "bigearthnet"
    assert config["radiometry"] == {"kind": "reflectance", "scale": 10000.0, "low": 0.0, "high": 0.3}
    meta = json.loads((cli_run / "meta.json").read_text())
    assert meta["inputs"]["in_chans"] == 12 and meta["inputs"]["rgb"] == [3, 2, 1]
    assert meta["inputs"]["bands"] == list(ALL_BANDS)
    assert "functional test, not a benchmark" in meta["dataset_note"]
    assert meta["num_queries"] + meta["num_database"] == 60  # v1 (6) + npz-v1 (30) + npz-v2 (24)
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert 0.0 <= metrics["map"] <= 1.0 and metrics["num_queries"] == meta["num_queries"]
    stem = load_tensors(cli_run / "model.safetensors")["backbone.net._conv_stem.weight"]
    assert stem.shape[1] == 12


def test_encode_cli_and_encode_arrays(cli_run, ben_dir):
    from mlrsir.inference.encoder import load_encoder
    from mlrsir.models.input_spec import load_band_array

    assert main(["encode", "--run", str(cli_run), "--quiet"]) == 0
    saved = np.load(cli_run / "codes.npz")
    assert saved["codes"].shape == (60, 16) and saved["labels"].shape == (60, 19)
    encoder = load_encoder(cli_run)
    assert encoder.inputs.in_chans == 12
    data = prepare_data(encoder.config, cli_run / "split.json", progress=False)
    # the 120 px patches resized by the encoder itself give the codes of the 32 px cache
    full = load_band_array(data.dataset, 120, progress=False)
    codes, outputs = encoder.encode_arrays(full[:8])
    np.testing.assert_allclose(outputs, saved["outputs"][:8], atol=1e-4)
    with pytest.raises(Exception, match="multispectral"):
        encoder.encode_uint8(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def _one_step_grads(trainer: Trainer) -> dict[str, torch.Tensor | None]:
    trainer.model.train()
    out, labels = trainer._train_batch(0)
    loss, _ = trainer.method.loss(out, labels)
    trainer.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad for n, p in trainer.model.named_parameters() if p.requires_grad}


@pytest.fixture(scope="module")
def ben_data(ben_dir, tmp_path_factory):
    config = resolve_config(root=str(ben_dir), finetune="all", iterations=1, **COMMON)
    return prepare_data(config, tmp_path_factory.mktemp("split") / "split.json", progress=False)


def test_every_parameter_gets_a_gradient_finetune_all(ben_dir, ben_data, tmp_path):
    config = resolve_config(root=str(ben_dir), finetune="all", iterations=1, **COMMON)
    trainer = Trainer(config, tmp_path / "all", data=ben_data, progress=False)
    assert ben_data.images.shape == (60, 12, 32, 32) and ben_data.images.dtype == np.float32
    grads = _one_step_grads(trainer)
    assert set(grads) == {n for n, _ in trainer.model.named_parameters()}
    bad = [n for n, g in grads.items() if g is None or not torch.isfinite(g).all() or not g.abs().sum() > 0]
    assert not bad, bad[:5]
    assert grads["backbone.net._conv_stem.weight"].shape[1] == 12


def test_frozen_mode_trains_cbam_and_head_only(ben_dir, ben_data, tmp_path):
    config = resolve_config(root=str(ben_dir), finetune="none", augment=False, iterations=1, **COMMON)
    trainer = Trainer(config, tmp_path / "none", data=ben_data, progress=False)
    grads = _one_step_grads(trainer)
    head = {id(p) for p in trainer.model.head_parameters()}
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, p in trainer.model.named_parameters() if id(p) in head}
    assert not any(n.startswith("backbone.") for n in trainable)
    bad = [n for n, g in grads.items() if g is None or not torch.isfinite(g).all() or not g.abs().sum() > 0]
    assert not bad, bad[:5]


def test_root_holding_the_three_layouts(ben_dir):
    from mlrsir.data.registry import load_dataset

    ds = load_dataset("BigEarthNet", ben_dir, bands="rgb")
    assert len(ds) == 60 and ds.layout == "mixed" and ds.labels.shape == (60, 19)
    prefixes = sorted({rel.split("/")[0] for rel in ds.relative_paths})
    assert prefixes == ["npz-v1", "npz-v2", "v1-patches"]
    assert ds.read_patch(0).shape == (3, 120, 120) and ds.read_patch(59).shape == (3, 120, 120)


def test_data_check_reads_the_bands(ben_dir):
    from mlrsir.data.check import check_dataset

    report = check_dataset("bigearthnet", ben_dir)
    assert report.num_images == 60 and report.num_problems == 0
    assert report.to_dict()["info"]["sizes"] == {"120x120": 60}
