"""Tensor transforms on batches of cached images.

Pipeline: cached ``uint8 (B, 3, H, W)`` -> :func:`augment_batch` (training only, still
uint8) -> :func:`to_float_normalized` -> model.

* :func:`dihedral`: the 8 symmetries of the square (remote-sensing tiles have no "up"):
  ``t in 0..7``, rotation by ``90 * (t % 4)`` degrees counter-clockwise, then a
  left-right flip when ``t >= 4``.
* :func:`augment_batch`: a random dihedral transform per sample plus small brightness
  and contrast jitter (:func:`jitter_brightness_contrast`).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from mlrsir.data.images import rgb_to_uint8_array

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _as_tensor(x) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x


def to_float_normalized(x) -> torch.Tensor:
    """``uint8 (B, 3, H, W)`` (tensor or ndarray, 0..255) -> ImageNet-normalised float32.

    ``out = (x / 255 - IMAGENET_MEAN) / IMAGENET_STD`` per channel; also accepts a
    single image ``(3, H, W)``.
    """
    x = _as_tensor(x)
    if x.dtype != torch.uint8:
        raise TypeError(f"to_float_normalized expects uint8 input, got {x.dtype}")
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"expected (B, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    shape = (3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(shape)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(shape)
    return (x.float() / 255.0 - mean) / std


def dihedral(x: torch.Tensor, t: int) -> torch.Tensor:
    """Apply dihedral transform ``t`` (0..7) to the last two dims of ``x`` (``(..., H, W)``).

    ``t % 4`` counter-clockwise quarter turns (``torch.rot90`` on dims (-2, -1)), then a
    flip of the last dim if ``t >= 4``. ``t = 0`` is the identity.
    """
    t = int(t)
    if not 0 <= t <= 7:
        raise ValueError(f"dihedral index must be in 0..7, got {t}")
    x = _as_tensor(x)
    out = torch.rot90(x, k=t % 4, dims=(-2, -1))
    if t >= 4:
        out = torch.flip(out, dims=(-1,))
    return out


def augment_batch(x, generator: torch.Generator | None = None, color_jitter: float = 0.1) -> torch.Tensor:
    """Random dihedral transform per sample + brightness/contrast jitter.

    Args:
        x: ``uint8 (B, 3, H, W)`` with H == W (cached images), or float in [0, 1].
        generator: ``torch.Generator`` for reproducibility (CPU).
        color_jitter: per-sample contrast factor ``c ~ U(1-j, 1+j)`` around the image's
            mean grey level and brightness factor ``b ~ U(1-j, 1+j)``:
            ``out = ((x - m) * c + m) * b``, clamped to the input range. 0 disables.

    Returns:
        Same dtype and shape as ``x`` (uint8 results are rounded).
    """
    x = _as_tensor(x)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"augment_batch expects (B, 3, H, W), got {tuple(x.shape)}")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError("augment_batch needs square images (rotations would change the shape)")
    out = random_dihedral(x, generator)
    if color_jitter <= 0:
        return out
    return jitter_brightness_contrast(out, generator, color_jitter)


def random_dihedral(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each sample of square ``(B, C, S, S)`` in one of the 8 :func:`dihedral` views, drawn
    uniformly (one ``torch.randint`` of B draws from ``generator``); a new tensor."""
    choice = torch.randint(0, 8, (x.shape[0],), generator=generator)
    out = x.clone()
    for t in range(1, 8):
        members = (choice == t).nonzero(as_tuple=True)[0]
        if len(members):
            out[members] = dihedral(x[members], t)
    return out


def jitter_brightness_contrast(x, generator: torch.Generator | None = None, color_jitter: float = 0.1) -> torch.Tensor:
    """Per-sample contrast then brightness jitter of a batch (the colour part of :func:`augment_batch`).

    Args:
        x: ``uint8 (B, 3, H, W)`` or float in [0, 1] (any H, W).
        generator: ``torch.Generator`` for reproducibility (CPU); draws ``B`` contrast then
            ``B`` brightness factors.
        color_jitter: factors ``c, b ~ U(1-j, 1+j)``; ``out = ((x - m) * c + m) * b`` with
            ``m`` the sample's mean grey level, clamped to the input range.

    Returns:
        Same dtype and shape as ``x`` (uint8 results are rounded).
    """
    out = _as_tensor(x)
    batch = out.shape[0]
    is_uint8 = out.dtype == torch.uint8
    top = 255.0 if is_uint8 else 1.0
    values = out.float()
    low, high = 1.0 - color_jitter, 1.0 + color_jitter
    contrast = torch.rand(batch, generator=generator) * (high - low) + low
    brightness = torch.rand(batch, generator=generator) * (high - low) + low
    shape = (batch, 1, 1, 1)
    mean = values.mean(dim=(1, 2, 3), keepdim=True)
    values = ((values - mean) * contrast.view(shape).to(values) + mean) * brightness.view(shape).to(values)
    values = values.clamp(0.0, top)
    if is_uint8:
        return values.round().to(torch.uint8)
    return values.to(out.dtype)


def pil_to_uint8_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """PIL image -> ``uint8 (3, size, size)`` tensor with the cache's exact resize."""
    return torch.from_numpy(rgb_to_uint8_array(image, size))


def contrastive_view(
    x: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    min_crop: float = 0.5,
    band_jitter: float = 0.1,
    band_dropout: float = 0.1,
) -> torch.Tensor:
    """One random view of a batch for label-free training (``--supervision none``).

    ``x (B, C, S, S)`` uint8 or float (0..255) -> same shape and dtype. Per sample: one of
    the 8 dihedral transforms (:func:`dihedral`), a random resized crop (side a fraction in
    ``[sqrt(min_crop), 1]`` of ``S``, so area >= ``min_crop``, resized back to ``S`` bilinearly),
    per-band radiometric jitter ``v -> v * g_c + o_c`` with ``g_c ~ U(1 - j, 1 + j)`` and
    ``o_c ~ U(-j, j) * 255``, and for multispectral input (``C > 3``) band dropout: each band
    replaced by its spatial mean with probability ``band_dropout``. Values clamped to 0..255.
    """
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"contrastive_view expects square (B, C, S, S), got {tuple(x.shape)}")
    b, c, s, _ = x.shape
    dtype = x.dtype
    xf = x.float()
    choice = torch.randint(0, 8, (b,), generator=generator)
    sides = torch.empty(b).uniform_(min_crop**0.5, 1.0, generator=generator)
    corners = torch.rand(b, 2, generator=generator)
    out = torch.empty_like(xf)
    for i in range(b):
        img = dihedral(xf[i], int(choice[i]))
        side = max(2, int(round(float(sides[i]) * s)))
        top = int(float(corners[i, 0]) * (s - side + 1))
        left = int(float(corners[i, 1]) * (s - side + 1))
        crop = img[:, top : top + side, left : left + side]
        if side != s:
            crop = torch.nn.functional.interpolate(crop[None], size=(s, s), mode="bilinear", align_corners=False)[0]
        out[i] = crop
    gain = 1 + (torch.rand(b, c, 1, 1, generator=generator) * 2 - 1) * band_jitter
    offset = (torch.rand(b, c, 1, 1, generator=generator) * 2 - 1) * band_jitter * 255
    out = out * gain + offset
    if c > 3 and band_dropout > 0:
        drop = torch.rand(b, c, 1, 1, generator=generator) < band_dropout
        out = torch.where(drop, out.mean(dim=(2, 3), keepdim=True), out)
    out = out.clamp(0, 255)
    return out.round().to(dtype) if dtype == torch.uint8 else out.to(dtype)
