"""Widening a backbone's first convolution from 3 (RGB) to N input bands.

:func:`widen_first_conv` replaces the stem convolution's weight ``(out, 3, k, k)`` by
``(out, N, k, k)``:

* ``init="mean"`` (default): the ImageNet filter of R, G and B goes to the positions of
  the R, G and B bands (``rgb``), every other band gets the mean of the three RGB
  filters, and ALL N filters are multiplied by ``3 / N``. The response to an input that
  is equal in every band (after normalisation) is then the pretrained response, whatever
  N; with N = 3 (and ``rgb=(0, 1, 2)``) the weights, hence the outputs, are unchanged.
* ``init="zero"``: RGB filters copied unchanged, the other bands' filters 0 - the widened
  net computes exactly the pretrained RGB function at the start (the zero filters still
  receive gradients and learn).

Input normalisation of N bands (:func:`band_mean_std`): the R, G, B bands use the
ImageNet mean/std of their colour, every other band the mean of the three
(mean 0.449, std 0.226), applied to values in [0, 1] (the 0..255 output of
:mod:`mlrsir.geo.radiometry` divided by 255): ``x = (v / 255 - mean_b) / std_b``
(:func:`normalize_bands`). The EfficientNet-Lite0 backbone's fixed input re-scaling
(``input_scale`` / ``input_shift`` buffers, (1, 3, 1, 1)) is widened with the same rule.

Stems: ``efficientnet_lite0``: ``net._conv_stem`` (a ``Conv2dDynamicSamePadding``, an
``nn.Conv2d`` subclass); ``resnet50``: ``net.conv1``; ``vgg16``: ``features.0``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mlrsir.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mlrsir.errors import ConfigError

INITS = ("mean", "zero")


def band_mean_std(in_chans: int, rgb: Sequence[int] = (0, 1, 2)) -> tuple[list[float], list[float]]:
    """Per-band normalisation mean and std (module docstring), each a list of ``in_chans`` floats."""
    rgb = _check_rgb(in_chans, rgb)
    mean = [sum(IMAGENET_MEAN) / 3.0] * in_chans
    std = [sum(IMAGENET_STD) / 3.0] * in_chans
    for k, pos in enumerate(rgb):
        mean[pos], std[pos] = IMAGENET_MEAN[k], IMAGENET_STD[k]
    return mean, std


def normalize_bands(x: torch.Tensor, rgb: Sequence[int] = (0, 1, 2)) -> torch.Tensor:
    """``(B, N, H, W)`` or ``(N, H, W)`` values in [0, 255] -> normalised float32 (module docstring)."""
    n = x.shape[-3]
    mean, std = band_mean_std(n, rgb)
    shape = (n, 1, 1)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(shape)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(shape)
    return (x.float() / 255.0 - m) / s


def _check_rgb(in_chans: int, rgb: Sequence[int]) -> tuple[int, int, int]:
    rgb = tuple(int(i) for i in rgb)
    if in_chans < 3 or len(rgb) != 3 or len(set(rgb)) != 3 or not all(0 <= i < in_chans for i in rgb):
        raise ConfigError(f"in_chans={in_chans}, rgb={rgb}: need in_chans >= 3 and 3 distinct RGB positions < in_chans")
    return rgb  # type: ignore[return-value]


def first_conv(backbone: nn.Module) -> nn.Conv2d:
    """The stem convolution of an :mod:`mlrsir.models.backbones` backbone."""
    net = getattr(backbone, "net", None)
    if net is not None and hasattr(net, "_conv_stem"):
        return net._conv_stem
    if net is not None and hasattr(net, "conv1"):
        return net.conv1
    features = getattr(backbone, "features", None)
    if features is not None and isinstance(features[0], nn.Conv2d):
        return features[0]
    raise ConfigError(f"{type(backbone).__name__}: cannot find its first convolution")


@torch.no_grad()
def widen_weight(
    weight: torch.Tensor, in_chans: int, rgb: Sequence[int] = (0, 1, 2), init: str = "mean"
) -> torch.Tensor:
    """``(out, 3, k, k)`` -> ``(out, in_chans, k, k)`` by the rule ``init`` (module docstring)."""
    if init not in INITS:
        raise ConfigError(f"init={init!r}: expected one of {', '.join(INITS)}")
    if weight.shape[1] != 3:
        raise ConfigError(f"first convolution has {weight.shape[1]} input channels, expected 3 (RGB)")
    rgb = _check_rgb(in_chans, rgb)
    out = torch.empty(weight.shape[0], in_chans, *weight.shape[2:], dtype=weight.dtype, device=weight.device)
    if init == "mean":
        out[:] = weight.mean(dim=1, keepdim=True)
    else:
        out.zero_()
    for k, pos in enumerate(rgb):
        out[:, pos] = weight[:, k]
    if init == "mean":
        out *= 3.0 / in_chans
    return out


def widen_first_conv(model: nn.Module, in_chans: int, rgb: Sequence[int] = (0, 1, 2), init: str = "mean") -> nn.Module:
    """Make ``model`` (an MLRSIRNet or a backbone) take ``in_chans`` bands; in place, returned.

    ``rgb``: positions of the R, G and B bands in the new input (e.g. ``(3, 2, 1)`` for
    BigEarthNet's 12 bands B01, B02, B03, B04, ...). Records ``model.in_chans_info``.
    """
    backbone = getattr(model, "backbone", model)
    conv = first_conv(backbone)
    conv.weight = nn.Parameter(widen_weight(conv.weight.data, in_chans, rgb, init))
    conv.in_channels = in_chans
    if hasattr(backbone, "input_scale") and hasattr(backbone, "input_shift"):
        mean, std = band_mean_std(in_chans, rgb)
        m = torch.tensor(mean).view(1, -1, 1, 1)
        s = torch.tensor(std).view(1, -1, 1, 1)
        backbone.input_scale = (s * 255.0 / 128.0).to(backbone.input_scale)
        backbone.input_shift = ((m * 255.0 - 127.0) / 128.0).to(backbone.input_shift)
    model.in_chans_info = {"in_chans": int(in_chans), "rgb": list(_check_rgb(in_chans, rgb)), "init": init}
    return model
