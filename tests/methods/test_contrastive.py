"""Issue 25: NT-Xent hashing loss against a per-pair reference loop; the contrastive views."""

from __future__ import annotations

import math

import pytest
import torch

from mlrsir.data.transforms import contrastive_view, dihedral
from mlrsir.errors import ConfigError
from mlrsir.methods.contrastive import ContrastiveHashingLoss, nt_xent


def _reference_nt_xent(h1, h2, tau):
    """SimCLR Eq. 1 written anchor by anchor, pair by pair."""
    z = [*h1, *h2]
    b = len(h1)

    def sim(a, c):
        return float(a @ c) / (float(a.norm()) * float(c.norm()))

    total = 0.0
    for i in range(2 * b):
        positive = (i + b) % (2 * b)
        denominator = sum(math.exp(sim(z[i], z[j]) / tau) for j in range(2 * b) if j != i)
        total += -math.log(math.exp(sim(z[i], z[positive]) / tau) / denominator)
    return total / (2 * b)


@pytest.mark.parametrize("tau", [0.1, 0.3, 1.0])
def test_nt_xent_matches_per_pair_loop(tau):
    g = torch.Generator().manual_seed(3)
    h1 = torch.tanh(torch.randn(5, 8, generator=g, dtype=torch.float64))
    h2 = torch.tanh(torch.randn(5, 8, generator=g, dtype=torch.float64))
    assert float(nt_xent(h1, h2, tau)) == pytest.approx(_reference_nt_xent(h1, h2, tau), rel=1e-10)


def test_identical_views_of_orthogonal_codes_give_the_hand_value():
    # 2 images, codes orthogonal, views equal: sim(positive)=1, sim(other image, both views)=0
    h = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    tau = 0.5
    expected = -math.log(math.exp(2) / (math.exp(2) + 2 * math.exp(0)))
    assert float(nt_xent(h, h.clone(), tau)) == pytest.approx(expected, rel=1e-12)


def test_total_adds_the_weighted_quantization_term():
    h1 = torch.full((2, 4), 0.5)
    h2 = torch.full((2, 4), -0.5)
    loss, parts = ContrastiveHashingLoss(temperature=0.3, quant_weight=0.1)(h1, h2)
    assert parts["ssl_quantization"] == pytest.approx(0.25)
    assert float(loss) == pytest.approx(parts["contrastive"] + 0.1 * 0.25, rel=1e-6)


def test_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="temperature"):
        ContrastiveHashingLoss(temperature=0)
    with pytest.raises(ValueError, match="B >= 2"):
        nt_xent(torch.ones(1, 4), torch.ones(1, 4), 0.3)


def test_contrastive_view_is_seeded_and_keeps_shape_and_range():
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    a = contrastive_view(x, torch.Generator().manual_seed(1))
    b = contrastive_view(x, torch.Generator().manual_seed(1))
    c = contrastive_view(x, torch.Generator().manual_seed(2))
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    bands = torch.rand(3, 6, 16, 16) * 255
    v = contrastive_view(bands, torch.Generator().manual_seed(0), band_dropout=1.0)
    # every band dropped: each band is constant (its spatial mean), values within 0..255
    assert torch.allclose(v, v[..., :1, :1].expand_as(v)) and v.min() >= 0 and v.max() <= 255


def test_contrastive_view_without_crop_or_jitter_is_a_dihedral_view():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) % 256
    v = contrastive_view(x, torch.Generator().manual_seed(5), min_crop=1.0, band_jitter=0.0)
    for i in range(2):
        assert any(torch.equal(v[i], dihedral(x[i], t)) for t in range(8))


def test_the_8_dihedral_views_are_distinct_isometries_of_the_grid():
    # a 3 x 3 array whose entries name their own position: each view is a permutation of the
    # 9 positions that keeps every pairwise distance (an isometry of the grid), and the 8 differ
    x = torch.arange(9).reshape(3, 3)
    by_hand = {
        0: [[0, 1, 2], [3, 4, 5], [6, 7, 8]],
        1: [[2, 5, 8], [1, 4, 7], [0, 3, 6]],  # a quarter turn counter-clockwise
        2: [[8, 7, 6], [5, 4, 3], [2, 1, 0]],
        3: [[6, 3, 0], [7, 4, 1], [8, 5, 2]],
        4: [[2, 1, 0], [5, 4, 3], [8, 7, 6]],  # identity, then left-right flip
        5: [[8, 5, 2], [7, 4, 1], [6, 3, 0]],
        6: [[6, 7, 8], [3, 4, 5], [0, 1, 2]],
        7: [[0, 3, 6], [1, 4, 7], [2, 5, 8]],  # the transpose
    }
    position = {v: divmod(v, 3) for v in range(9)}
    seen = set()
    for t in range(8):
        view = dihedral(x, t).tolist()
        assert view == by_hand[t], t
        seen.add(str(view))
        where = {view[r][c]: (r, c) for r in range(3) for c in range(3)}
        for a in range(9):
            for b in range(9):
                before = (position[a][0] - position[b][0]) ** 2 + (position[a][1] - position[b][1]) ** 2
                after = (where[a][0] - where[b][0]) ** 2 + (where[a][1] - where[b][1]) ** 2
                assert before == after, (t, a, b)
    assert len(seen) == 8
