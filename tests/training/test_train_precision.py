"""Issue 28 item 3: bf16 training (``--train-precision bf16``).

The forward pass runs under bfloat16 autocast with the depthwise convolutions in fp32
(:mod:`mlrsir.models.mixed_precision`); weights, gradients and the loss stay fp32; the
resolved config records the choice; evaluation is fp32.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from mlrsir.cli.main import build_parser
from mlrsir.cli.train import config_overrides
from mlrsir.errors import ConfigError
from mlrsir.models.mixed_precision import bf16_autocast, depthwise_convolutions
from mlrsir.run.config import TrainConfig, resolve_config
from mlrsir.training.trainer import Trainer
from tests.fixtures.make_datasets import make_ucm_fixture


class _Block(nn.Module):
    """Pointwise then depthwise convolution, the shape of an EfficientNet block."""

    def __init__(self) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(4, 8, 1)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.seen: dict[str, torch.dtype] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pointwise(x)
        self.seen["pointwise"] = y.dtype
        z = self.depthwise(y)
        self.seen["depthwise"] = z.dtype
        return z


def test_bf16_autocast_keeps_depthwise_in_fp32_and_restores_the_modules():
    torch.manual_seed(0)
    block = _Block()
    x = torch.randn(2, 4, 6, 6)
    reference = block(x)
    assert depthwise_convolutions(block) == [block.depthwise]
    with bf16_autocast(block):
        out = block(x)
    assert block.seen == {"pointwise": torch.bfloat16, "depthwise": torch.float32}
    assert "forward" not in vars(block.depthwise)  # the instance's forward is restored
    # bf16 has an 8-bit mantissa: close to fp32, not equal
    assert not torch.equal(out, reference)
    torch.testing.assert_close(out, reference, rtol=0.05, atol=0.05)
    out.pow(2).mean().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in block.parameters())
    with bf16_autocast(block, enabled=False):
        block(x)
    assert block.seen == {"pointwise": torch.float32, "depthwise": torch.float32}


def test_bf16_autocast_restores_the_modules_on_error():
    block = _Block()
    with pytest.raises(RuntimeError, match="boom"), bf16_autocast(block):
        raise RuntimeError("boom")
    assert "forward" not in vars(block.depthwise)
    assert not torch.is_autocast_enabled("cpu")


def test_train_precision_is_validated_and_old_configs_load_as_fp32(tmp_path):
    with pytest.raises(ConfigError, match="--train-precision"):
        resolve_config("default", train_precision="fp16")
    data = resolve_config("default", train_precision="bf16").to_dict()
    assert data["train_precision"] == "bf16"
    del data["train_precision"]  # a config.json written before the field
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert TrainConfig.load(path).train_precision == "fp32"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=6, size=48)


@pytest.mark.parametrize("finetune", ["top1", "all"])
def test_bf16_training_runs_gradients_flow_and_the_config_records_it(tmp_path, monkeypatch, tiny_root, finetune):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    values = dict(root=str(tiny_root), weights="none", image_size=48, bits=16, batch_size=8, iterations=3, lr=1e-2)
    config = resolve_config("default", finetune=finetune, backbone_lr=1e-2, train_precision="bf16", **values)
    trainer = Trainer(config, tmp_path / "run", progress=False, log=lambda m: None)
    autocast_seen = []
    head_forward = trainer.model.hash_head.forward

    def spy(x):
        autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return head_forward(x)

    trainer.model.hash_head.forward = spy
    trained = [(n, p) for n, p in trainer.model.named_parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in trained}
    loss, _, _ = trainer._loss(0)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert autocast_seen == [True]
    for name, p in trained:
        assert p.dtype == torch.float32 and p.grad is not None and p.grad.dtype == torch.float32, name
    # the trained backbone stages get a gradient, not only the head
    assert any(n.startswith("backbone.") and float(p.grad.abs().sum()) > 0 for n, p in trained)
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.fit()
    assert any(not torch.equal(before[n], p.detach()) for n, p in trained)
    out = trainer.outputs()  # evaluation: fp32, no autocast
    assert out.dtype.name == "float32" and autocast_seen[-1] is False
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_precision"] == "bf16"


def test_cli_train_precision_reaches_the_config():
    parser = build_parser()
    args = parser.parse_args(["train", "--train-precision", "bf16", "--out", "x"])
    assert config_overrides(args)["train_precision"] == "bf16"
    assert config_overrides(parser.parse_args(["train", "--out", "x"]))["train_precision"] is None
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--train-precision", "int8", "--out", "x"])


@pytest.mark.parametrize(
    ("has_bf16", "overrides", "expected"),
    [
        (True, {}, "bf16"),  # the default preset: top1 on a CPU with native bf16
        (False, {}, "fp32"),  # no AVX-512 BF16 / AMX: bf16 would be emulated
        (True, {"finetune": "none"}, "fp32"),  # head-only training: not measured
        (True, {"device": "cuda"}, "fp32"),  # GPUs: not measured
        (True, {"train_precision": "fp32"}, "fp32"),  # an explicit choice wins
        (False, {"train_precision": "bf16"}, "bf16"),
    ],
)
def test_default_preset_resolves_train_precision_from_the_cpu(monkeypatch, has_bf16, overrides, expected):
    from mlrsir.run import config as config_module

    monkeypatch.setattr(config_module, "cpu_has_bf16", lambda: has_bf16)
    assert resolve_config("default", **overrides).train_precision == expected
    assert resolve_config("paper").train_precision == "fp32"  # the paper's setup stays as written


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch, tmp_path):
    from mlrsir.models import mixed_precision

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_vnni amx_tile amx_bf16\n")
    real_open = open
    monkeypatch.setattr(
        "builtins.open", lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k)
    )
    assert mixed_precision.cpu_bf16_flags() == ["amx_bf16", "amx_tile", "avx512_vnni"]
    assert mixed_precision.cpu_has_bf16()
    cpuinfo.write_text("flags\t\t: fpu sse2 avx512f avx512_vnni\n")
    assert not mixed_precision.cpu_has_bf16()
