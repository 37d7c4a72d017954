"""ONNX export + ONNX Runtime encoder against the PyTorch oracle.

Always run: a random-weights MLRSIR-NET at 64x64 (export, staleness, runtime choice,
codes and attention). ``realdata``: every UCM image at 100x100 through a quickly trained
run; >= 99.9 % of bits agree and every disagreeing bit has ``|h| < 1e-3``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mlrsir[onnx]')")
pytest.importorskip("onnx", reason="onnx not installed (pip install 'mlrsir[onnx]')")

from mlrsir.errors import ConfigError  # noqa: E402
from mlrsir.inference.encoder import load_encoder  # noqa: E402
from mlrsir.inference.onnx_export import export_onnx, export_problem  # noqa: E402

UCM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ucm-multilabel"


def make_random_run(run_dir: Path, *, bits: int = 16, image_size: int = 64, method: str = "mlrsir", seed=0) -> Path:
    from mlrsir.methods.registry import get_method
    from mlrsir.models.build import build_model
    from mlrsir.run.checkpoint import save_tensors
    from mlrsir.run.config import resolve_config

    cfg = resolve_config(method=method, bits=bits, weights="none", image_size=image_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), default=str))
    torch.manual_seed(seed)
    model = build_model(cfg, get_method(cfg.method, cfg.bits, **cfg.method_params)).eval()
    with torch.no_grad():  # random BatchNorm statistics, so folding is exercised
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    save_tensors(model.state_dict(), run_dir / "model.safetensors")
    return run_dir


def agreement(h_torch: np.ndarray, h_onnx: np.ndarray) -> tuple[float, float]:
    """(share of agreeing bits, max |h_torch| over disagreeing bits (0 when none))."""
    differ = (h_torch > 0) != (h_onnx > 0)
    worst = float(np.abs(h_torch[differ]).max()) if differ.any() else 0.0
    return 1.0 - differ.mean(), worst


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = make_random_run(tmp_path_factory.mktemp("onnx") / "run")
    export_onnx(run, log=lambda _m: None)
    return run


def test_onnx_codes_and_attention_match_torch(tiny_run):
    torch_enc = load_encoder(tiny_run, runtime="torch")
    onnx_enc = load_encoder(tiny_run, runtime="auto")
    assert torch_enc.runtime == "torch" and onnx_enc.runtime == "onnx"
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.integers(0, 256, size=(24, 3, 64, 64), dtype=np.uint8))
    _, h_t = torch_enc.encode_uint8(batch)
    _, h_o = onnx_enc.encode_uint8(batch)
    assert np.abs(h_t - h_o).max() < 1e-4
    share, worst = agreement(h_t, h_o)
    assert share >= 0.999 and worst < 1e-3
    from PIL import Image

    image = Image.fromarray(rng.integers(0, 256, size=(50, 70, 3), dtype=np.uint8), "RGB")
    a_t, a_o = torch_enc.spatial_attention(image), onnx_enc.spatial_attention(image)
    assert a_o.shape == (50, 70) and np.abs(a_t - a_o).max() < 1e-4


def test_stale_export_is_ignored_by_auto_and_refused_by_onnx(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert export_problem(run, load_encoder(run, runtime="torch").config) is None
    make_random_run(run, seed=1)  # "retrained": new weights beside the old export
    enc = load_encoder(run, runtime="auto")
    assert enc.runtime == "torch" and "stale" in enc.runtime_note
    with pytest.raises(ConfigError, match="stale"):
        load_encoder(run, runtime="onnx")


def test_fixed_batch_export_pads_and_splits(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    export_onnx(run, fixed_batch=8, log=lambda _m: None)
    enc = load_encoder(run, runtime="onnx")
    batch = torch.from_numpy(np.random.default_rng(1).integers(0, 256, size=(13, 3, 64, 64), dtype=np.uint8))
    _, h_o = enc.encode_uint8(batch)
    _, h_t = load_encoder(run, runtime="torch").encode_uint8(batch)
    assert h_o.shape == h_t.shape and np.abs(h_t - h_o).max() < 1e-4


def test_onnx_runtime_without_export_is_refused(tmp_path):
    run = make_random_run(tmp_path / "bare")
    with pytest.raises(ConfigError, match="no ONNX export"):
        load_encoder(run, runtime="onnx")
    assert load_encoder(run).runtime == "torch"


@pytest.mark.realdata
def test_ucm_codes_agree_with_torch(tmp_path):
    if not (UCM / "Images").is_dir():
        pytest.skip(f"{UCM} absent (the real UCM copy is needed)")
    from mlrsir.data.cache import load_image_array
    from mlrsir.data.registry import load_dataset

    run = make_random_run(tmp_path / "run", bits=32, image_size=100)
    # an ImageNet backbone with a random head: realistic activations, random projection
    from mlrsir.models.backbones import load_efficientnet_lite0_state_dict
    from mlrsir.run.checkpoint import load_tensors, save_tensors

    state = load_tensors(run / "model.safetensors")
    for key, value in load_efficientnet_lite0_state_dict().items():
        full = f"backbone.net.{key}"
        if full in state:
            state[full] = value
    save_tensors(state, run / "model.safetensors")
    export_onnx(run, log=lambda _m: None)
    # every third image (700 of 2100) keeps the test well under a minute on 2 shared cores
    images = torch.from_numpy(load_image_array(load_dataset("ucm", UCM), 100, progress=False)[::3].copy())
    chunks = range(0, len(images), 128)
    torch_enc, onnx_enc = load_encoder(run, runtime="torch"), load_encoder(run, runtime="onnx")
    h_t = np.concatenate([torch_enc.encode_uint8(images[i : i + 128])[1] for i in chunks])
    h_o = np.concatenate([onnx_enc.encode_uint8(images[i : i + 128])[1] for i in chunks])
    share, worst = agreement(h_t, h_o)
    print(f"UCM {len(images)} images: {share * 100:.4f} % bits agree, max |h| among disagreeing {worst:.2e}")
    assert share >= 0.999
    assert worst < 1e-3
