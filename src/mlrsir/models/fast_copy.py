"""Faster CPU inference copy of a model: BatchNorm folded into convolutions, channels-last.

In eval mode a BatchNorm after a convolution is a fixed per-channel affine map, so it
can be folded into the convolution (Ioffe & Szegedy 2015; standard deployment step)::

    scale = gamma / sqrt(running_var + eps)
    W' = W * scale[:, None, None, None]
    b' = (b - running_mean) * scale + beta

Together with the channels-last memory format (faster depthwise convolutions with
oneDNN) this speeds up EfficientNet-Lite0 encoding on the CPU by roughly 1.5-2x; outputs
equal the original model's up to float rounding (~1e-5). The copy is for inference only
(never train it: BatchNorm no longer exists there).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from mlrsir.models.backbones import EfficientNetLiteBackbone, ResNetBackbone


@torch.no_grad()
def fold_batchnorm(parent: nn.Module, conv_name: str, bn_name: str) -> None:
    """Fold ``parent.<bn_name>`` into ``parent.<conv_name>`` and replace the BN by Identity."""
    conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight = nn.Parameter(conv.weight * scale.view(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias, requires_grad=False)
    setattr(parent, bn_name, nn.Identity())


def _conv_bn_pairs(backbone: nn.Module) -> list[tuple[nn.Module, str, str]]:
    if isinstance(backbone, EfficientNetLiteBackbone):
        net = backbone.net
        pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
        for block in net._blocks:
            if hasattr(block, "_expand_conv"):
                pairs.append((block, "_expand_conv", "_bn0"))
            pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
        return pairs
    if isinstance(backbone, ResNetBackbone):
        net = backbone.net
        pairs = [(net, "conv1", "bn1")]
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            for block in layer:
                pairs += [(block, f"conv{i}", f"bn{i}") for i in (1, 2, 3)]
                if block.downsample is not None:
                    pairs.append((block.downsample, "0", "1"))
        return pairs
    return []  # VGG-16 has no BatchNorm


def prepare_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Return an eval-mode copy of an ``MLRSIRNet`` with folded BatchNorm (input unchanged).

    Args:
        model: an :class:`~mlrsir.models.mlrsir_net.MLRSIRNet`.
        channels_last: also convert weights to channels-last memory format (inputs may
            stay NCHW-contiguous; the convolutions pick the weights' format).
    """
    fast = copy.deepcopy(model).eval()
    for parent, conv_name, bn_name in _conv_bn_pairs(fast.backbone):
        fold_batchnorm(parent, conv_name, bn_name)
    for p in fast.parameters():
        p.requires_grad_(False)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    return fast
