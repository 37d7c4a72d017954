"""CBAM (Eq. 1-3) and the hash layer (Eq. 4) against explicit formulas."""

from __future__ import annotations

import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.models.cbam import CBAM
from mlrsir.models.fusion import adaptive_avg_pool, adaptive_pool_matrix
from mlrsir.models.hash_head import HashHead


def _mlp(cbam: CBAM, v: torch.Tensor) -> torch.Tensor:
    first, _, second = cbam.mlp
    return torch.relu(v @ first.weight.t() + first.bias) @ second.weight.t() + second.bias


def test_cbam_matches_formula_and_stores_gates():
    torch.manual_seed(0)
    cbam = CBAM(32, reduction=4, kernel_size=7)
    x = torch.randn(3, 32, 7, 5)
    out = cbam(x)
    assert out.shape == x.shape
    mc = torch.sigmoid(_mlp(cbam, x.flatten(2).max(dim=2).values) + _mlp(cbam, x.flatten(2).mean(dim=2)))[
        :, :, None, None
    ]
    x1 = mc * x
    ms = torch.sigmoid(
        torch.nn.functional.conv2d(
            torch.stack([x1.max(dim=1).values, x1.mean(dim=1)], dim=1),
            cbam.spatial.weight,
            cbam.spatial.bias,
            padding=3,
        )
    )
    torch.testing.assert_close(out, ms * x1)
    assert cbam.last_channel_gate.shape == (3, 32, 1, 1)
    assert cbam.last_spatial_gate.shape == (3, 1, 7, 5)
    torch.testing.assert_close(cbam.last_channel_gate, mc)
    torch.testing.assert_close(cbam.last_spatial_gate, ms)
    for gate in (cbam.last_channel_gate, cbam.last_spatial_gate):
        assert not gate.requires_grad
        assert ((gate > 0) & (gate < 1)).all()


def test_cbam_hidden_width_and_gradients():
    cbam = CBAM(8, reduction=16)  # 8 // 16 = 0 -> at least one hidden unit
    assert cbam.mlp[0].out_features == 1
    x = torch.randn(2, 8, 4, 4, requires_grad=True)
    cbam(x).sum().backward()
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in cbam.parameters())


def test_hash_head_is_eq4():
    torch.manual_seed(0)
    head = HashHead(16, bits=12, hidden=500)
    x = torch.randn(4, 16, 3, 3)
    h = head(x)
    expected = torch.tanh(head.fc2(torch.tanh(head.fc1(x.mean(dim=(2, 3))))))
    torch.testing.assert_close(h, expected)
    assert h.shape == (4, 12) and ((h > -1) & (h < 1)).all()
    assert head.fc1.out_features == 500


def test_hash_head_identity_gives_real_values():
    torch.manual_seed(0)
    head = HashHead(16, bits=6, hidden=8, activation="identity")
    with torch.no_grad():
        head.fc2.weight.mul_(100)
    x = torch.randn(4, 16, 2, 2)
    z = head(x)
    torch.testing.assert_close(z, head.fc2(torch.tanh(head.fc1(x.mean(dim=(2, 3))))))
    assert z.abs().max() > 1


def test_hash_head_dropout_only_in_training():
    head = HashHead(16, bits=6, dropout=0.5)
    x = torch.randn(4, 16, 2, 2)
    head.eval()
    torch.testing.assert_close(head(x), head(x))
    head.train()
    torch.manual_seed(1)
    a = head(x)
    torch.manual_seed(2)
    assert not torch.equal(a, head(x))


def test_hash_head_rejects_unknown_activation():
    with pytest.raises(ConfigError, match="activation='relu'"):
        HashHead(16, bits=8, activation="relu")


@pytest.mark.parametrize("size_in", [1, 4, 7, 13, 25])
@pytest.mark.parametrize("size_out", [1, 3, 7])
def test_matrix_adaptive_pooling_equals_torch(size_in, size_out):
    """The fusion's matrix form of adaptive average pooling gives torch's values, for
    down- and up-sampling grids (4 -> 7 replicates and averages neighbouring cells)."""
    x = torch.randn(2, 3, size_in, size_in + 1, dtype=torch.float64)
    expected = torch.nn.functional.adaptive_avg_pool2d(x, size_out)
    torch.testing.assert_close(adaptive_avg_pool(x, size_out), expected, rtol=0, atol=1e-12)


def test_adaptive_pool_matrix_by_hand():
    """1-D pooling of 2 cells onto 3: windows [0,1), [0,2), [1,2) -> rows (1,0), (.5,.5), (0,1)."""
    m = adaptive_pool_matrix(2, 3, torch.float64, torch.device("cpu"))
    assert m.tolist() == [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
