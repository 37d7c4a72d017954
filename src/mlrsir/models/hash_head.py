"""Hash layer of MLRSIR-NET (paper Eq. 4).

``h = act(W2 tanh(W1 GAP(x) + b1) + b2)``: global average pooling, a hidden fully
connected layer (500 units) with tanh, and a ``k``-unit output layer. With the default
``activation="tanh"`` the relaxed code ``h`` lies in (-1, 1)^k and is binarised by
:func:`mlrsir.codes.binarize` (Eq. 5). ``activation="identity"`` gives real-valued
features for the quantisation baselines (DQN/DTQ).
"""

from __future__ import annotations

import torch
from torch import nn

from mlrsir.codes import check_code_length
from mlrsir.errors import ConfigError

ACTIVATIONS = ("tanh", "identity")


class HashHead(nn.Module):
    """``(B, C, H, W)`` float -> ``(B, bits)`` float (in (-1, 1) for tanh)."""

    def __init__(self, in_channels: int, bits: int, hidden: int = 500, activation: str = "tanh", dropout: float = 0.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation={activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        check_code_length(bits)
        if hidden < 1:
            raise ConfigError(f"hidden must be >= 1, got hidden={hidden}")
        self.activation = activation
        self.fc1 = nn.Linear(in_channels, hidden)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc2(self.dropout(torch.tanh(self.fc1(x.mean(dim=(2, 3))))))
        return torch.tanh(z) if self.activation == "tanh" else z
