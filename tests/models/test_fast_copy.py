"""prepare_for_inference: same outputs, no BatchNorm left, original untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlrsir.models.fast_copy import prepare_for_inference
from mlrsir.models.mlrsir_net import MLRSIRNet


def _randomise_bn_statistics(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))


@pytest.mark.parametrize("backbone, weights", [("efficientnet_lite0", "imagenet"), ("resnet50", "none")])
def test_folded_model_gives_same_outputs(backbone, weights):
    torch.manual_seed(0)
    model = MLRSIRNet(backbone=backbone, bits=16, weights=weights).eval()
    if weights == "none":
        _randomise_bn_statistics(model)  # non-trivial statistics, so folding is really tested
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = prepare_for_inference(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ref = model.aggregate(x)  # random-init ResNet activations reach ~1e2: tolerance relative to scale
        torch.testing.assert_close(fast.aggregate(x), ref, rtol=1e-3, atol=1e-5 * ref.abs().max().item())
        torch.testing.assert_close(fast(x), model(x), rtol=1e-3, atol=1e-4)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
