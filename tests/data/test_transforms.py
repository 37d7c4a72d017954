"""Normalisation, dihedral group, augmentation, PIL -> tensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlrsir.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    augment_batch,
    dihedral,
    pil_to_uint8_tensor,
    to_float_normalized,
)


def test_to_float_normalized_by_hand():
    x = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, 1, 1).contiguous()
    out = to_float_normalized(x)
    assert out.dtype == torch.float32 and out.shape == (2, 3, 1, 1)
    expected = [
        (0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0],
        (1 - IMAGENET_MEAN[1]) / IMAGENET_STD[1],
        (0.2 - IMAGENET_MEAN[2]) / IMAGENET_STD[2],
    ]
    assert torch.allclose(out[1, :, 0, 0], torch.tensor(expected), atol=1e-6)
    with pytest.raises(TypeError):
        to_float_normalized(x.float())


def test_dihedral_by_hand():
    x = torch.tensor([[1, 2], [3, 4]]).view(1, 1, 2, 2)
    results = [dihedral(x, t)[0, 0].tolist() for t in range(8)]
    assert results[0] == [[1, 2], [3, 4]]
    assert results[1] == [[2, 4], [1, 3]]  # 90 deg counter-clockwise
    assert results[2] == [[4, 3], [2, 1]]
    assert results[3] == [[3, 1], [4, 2]]
    assert results[4] == [[2, 1], [4, 3]]  # identity then left-right flip
    # the 8 transforms of an asymmetric image are all different (a group of order 8)
    assert len({str(r) for r in results}) == 8


def test_augment_batch_shapes_reproducible_and_group_members():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(0, 256, (6, 3, 5, 5), dtype=np.uint8))
    a = augment_batch(x, torch.Generator().manual_seed(1), color_jitter=0.0)
    b = augment_batch(x, torch.Generator().manual_seed(1), color_jitter=0.0)
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b)
    for i in range(6):  # without jitter every sample is one of its 8 dihedral images
        assert any(torch.equal(a[i], dihedral(x[i], t)) for t in range(8))
    jittered = augment_batch(x, torch.Generator().manual_seed(1), color_jitter=0.1)
    assert jittered.dtype == torch.uint8
    diff = (jittered.float() - a.float()).abs()
    assert diff.max() > 0 and diff.mean() < 0.25 * 255 * 0.2 + 1


def test_pil_to_uint8_tensor():
    image = Image.new("RGB", (30, 10), (10, 20, 30))
    t = pil_to_uint8_tensor(image, 8)
    assert t.shape == (3, 8, 8) and t.dtype == torch.uint8
    assert t[:, 4, 4].tolist() == [10, 20, 30]
    grey = pil_to_uint8_tensor(Image.new("L", (4, 4), 77), 4)
    assert grey.unique().tolist() == [77]
