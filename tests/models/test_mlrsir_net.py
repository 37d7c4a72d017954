"""MLRSIRNet: shapes through every stage, variants, parameter groups, gradients."""

from __future__ import annotations

import pytest
import torch

from mlrsir.codes import binarize
from mlrsir.methods.mlrsir import HashingLoss
from mlrsir.models.mlrsir_net import MLRSIRNet

X64 = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
LABELS = torch.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])  # the two images share a label


@pytest.fixture(scope="module")
def lite0_random():
    torch.manual_seed(0)
    return MLRSIRNet(bits=32, weights="none")


@pytest.fixture(scope="module")
def lite0_imagenet():
    torch.manual_seed(0)
    return MLRSIRNet(bits=16, weights="imagenet").eval()


def _check_stages(net: MLRSIRNet, x: torch.Tensor, channels: int, bits: int, open_interval: bool = True):
    net.eval()
    with torch.no_grad():
        agg = net.aggregate(x)
        assert agg.shape == (x.shape[0], channels, 7, 7) and agg.dtype == torch.float32
        assert net.aggregate_channels == channels
        h = net.head(agg)
        assert h.shape == (x.shape[0], bits)
        assert ((h > -1) & (h < 1)).all()
        torch.testing.assert_close(net(x), h)  # forward = head(aggregate(x))
        codes = binarize(h)
        assert codes.dtype == torch.uint8 and set(codes.unique().tolist()) <= {0, 1}
        att = net.spatial_attention(x)
        assert att.shape == (x.shape[0], 1, x.shape[2], x.shape[3])
        assert ((att >= 0) & (att <= 1)).all()
        if open_interval:  # float32 sigmoid saturates to exactly 1 on huge random-init activations
            assert ((att > 0) & (att < 1)).all()


def test_lite0_random_stages(lite0_random):
    _check_stages(lite0_random, X64, 40 + 112 + 1280, 32)


def test_lite0_imagenet_stages(lite0_imagenet):
    _check_stages(lite0_imagenet, X64, 1432, 16)
    _check_stages(lite0_imagenet, torch.randn(3, 3, 100, 100), 1432, 16)


@pytest.mark.parametrize("backbone, channels", [("resnet50", 512 + 1024 + 2048), ("vgg16", 256 + 512 + 512)])
def test_torchvision_backbones_random(backbone, channels):
    _check_stages(MLRSIRNet(backbone=backbone, bits=24, weights="none"), X64, channels, 24, open_interval=False)


def test_every_parameter_gets_a_gradient(lite0_random):
    net = lite0_random.train()
    net.zero_grad()
    h = net(X64)
    total, _ = HashingLoss()(h, LABELS)
    total.backward()
    named = list(net.named_parameters())
    assert all(p.requires_grad for _, p in named)
    missing = [n for n, p in named if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, missing
    net.zero_grad()
    net.eval()


def test_parameter_groups_partition_the_model(lite0_random):
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    backbone, head = ids(lite0_random.backbone_parameters()), ids(lite0_random.head_parameters())
    assert backbone and head and not backbone & head
    assert backbone | head == ids(lite0_random.parameters())
    assert ids(lite0_random.cbam.parameters()) <= head


def test_single_level_and_no_cbam_variants():
    net = MLRSIRNet(bits=8, weights="none", multi_level=False, use_cbam=False, pool_size=5)
    assert net.cbam is None and net.aggregate_channels == 1280
    net.eval()
    with torch.no_grad():
        assert net.aggregate(X64).shape == (2, 1280, 5, 5)
        h = net(X64)
        assert h.shape == (2, 8) and ((h > -1) & (h < 1)).all()
        assert torch.equal(net.spatial_attention(X64), torch.ones(2, 1, 64, 64))
    assert {id(p) for p in net.head_parameters()} == {id(p) for p in net.hash_head.parameters()}


def test_out_dim_and_identity_activation():
    net = MLRSIRNet(bits=16, out_dim=64, weights="none", activation="identity").eval()
    with torch.no_grad():
        assert net(X64).shape == (2, 64)
    assert net.bits == 16 and net.out_dim == 64 and net.config["activation"] == "identity"


def test_head_is_pure_function_of_aggregate(lite0_imagenet):
    """Training the head on cached aggregates equals running the whole frozen model."""
    with torch.no_grad():
        agg = lite0_imagenet.aggregate(X64)
        cached = agg.clone()
        torch.testing.assert_close(lite0_imagenet.head(cached), lite0_imagenet(X64))
