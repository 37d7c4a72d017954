"""Widening the stem to N bands: N=3 unchanged, init rules, 12-band training on BigEarthNet."""

from __future__ import annotations

import pytest
import torch

from mlrsir.methods.mlrsir import HashingLoss
from mlrsir.models.in_chans import band_mean_std, first_conv, normalize_bands, widen_first_conv, widen_weight
from mlrsir.models.mlrsir_net import MLRSIRNet


@pytest.fixture(scope="module")
def x3():
    return torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def test_n3_output_unchanged(x3):
    torch.manual_seed(0)
    net = MLRSIRNet(bits=16, weights="imagenet").eval()
    with torch.no_grad():
        before = net(x3)
    widen_first_conv(net, 3)
    with torch.no_grad():
        after = net(x3)
    torch.testing.assert_close(before, after, rtol=0, atol=0)


def test_zero_init_keeps_the_rgb_function(x3):
    torch.manual_seed(0)
    net = MLRSIRNet(bits=16, weights="imagenet").eval()
    with torch.no_grad():
        before = net(x3)
    widen_first_conv(net, 5, rgb=(3, 2, 1), init="zero")
    x5 = torch.randn(2, 5, 64, 64)
    x5[:, 3], x5[:, 2], x5[:, 1] = x3[:, 0], x3[:, 1], x3[:, 2]
    with torch.no_grad():
        after = net(x5)
    torch.testing.assert_close(before, after, rtol=1e-5, atol=1e-5)


def test_mean_init_rule():
    w = torch.randn(8, 3, 3, 3)
    w12 = widen_weight(w, 12, rgb=(3, 2, 1))
    torch.testing.assert_close(w12[:, 3], w[:, 0] * 3 / 12)
    torch.testing.assert_close(w12[:, 1], w[:, 2] * 3 / 12)
    torch.testing.assert_close(w12[:, 0], w.mean(1) * 3 / 12)
    torch.testing.assert_close(w12.sum(1), w.sum(1))  # same response to a band-constant input
    mean, std = band_mean_std(12, (3, 2, 1))
    assert mean[3] == 0.485 and std[1] == 0.225 and abs(mean[0] - 0.449) < 1e-3


def test_twelve_band_training_on_bigearthnet(ben_dir):
    from mlrsir.data.bigearthnet import BigEarthNet

    ds = BigEarthNet(ben_dir / "v1-patches", bands="all")
    batch = [ds[i] for i in range(len(ds))]
    x = normalize_bands(torch.stack([b["image"] for b in batch]), rgb=(3, 2, 1))
    y = torch.stack([b["labels"] for b in batch])
    assert x.shape == (6, 12, 120, 120)
    torch.manual_seed(0)
    net = widen_first_conv(MLRSIRNet(bits=16, weights="imagenet"), 12, rgb=(3, 2, 1))
    assert first_conv(net.backbone).weight.shape[1] == 12 and net.backbone.input_scale.shape == (1, 12, 1, 1)
    loss_fn = HashingLoss()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9)
    net.train()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        h = net(x)
        assert h.shape == (6, 16) and torch.isfinite(h).all()
        loss, _ = loss_fn(h, y)
        loss.backward()
        missing = [
            n
            for n, p in net.named_parameters()
            if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0
        ]
        assert not missing, missing[:5]
        opt.step()
        losses.append(float(loss))
    assert all(torch.isfinite(torch.tensor(losses)))
