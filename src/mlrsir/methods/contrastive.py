"""Label-free hashing objective: NT-Xent on the hash layer's tanh outputs + quantisation.

NT-Xent is SimCLR's normalised-temperature cross entropy (Chen et al., "A Simple Framework
for Contrastive Learning of Visual Representations", ICML 2020, Eq. 1), applied here to the
tanh outputs ``h`` of the hash head instead of a projection head, so that the codes
``binarize(h)`` themselves carry the similarity. Inputs: two views of the same ``B`` images,
``h1, h2 (B, k)`` in (-1, 1). With ``z = [h1; h2] (2B, k)``, ``sim(a, b)`` the cosine
similarity and ``p(i)`` the other view of image ``i``:

    l_i  = -log( exp(sim(z_i, z_p(i)) / tau) / sum_{j != i} exp(sim(z_i, z_j) / tau) )
    L_nt = (1 / 2B) * sum_{i=1..2B} l_i

and the total is ``L = L_nt + quant_weight * Q(h)`` with ``Q`` the quantisation term of
:func:`mlrsir.methods.losses.quantization_loss` on both views (the same term MLRSIR-NET
uses, pushing ``|h|`` towards 1 so that binarisation loses little).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from mlrsir.errors import ConfigError
from mlrsir.methods.losses import quantization_loss

SSL_DEFAULTS = {"temperature": 0.3, "quant_weight": 0.01}


def nt_xent(h1: torch.Tensor, h2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent (SimCLR Eq. 1) of two views ``(B, k)``; a scalar >= 0 (mean over the 2B anchors)."""
    if h1.shape != h2.shape or h1.ndim != 2 or h1.shape[0] < 2:
        raise ValueError(f"nt_xent: expected two (B, k) views with B >= 2, got {tuple(h1.shape)}, {tuple(h2.shape)}")
    b = h1.shape[0]
    z = F.normalize(torch.cat([h1, h2]), dim=1, eps=1e-8)
    logits = (z @ z.t()) / temperature
    logits = logits.masked_fill(torch.eye(2 * b, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
    return F.cross_entropy(logits, target)


class ContrastiveHashingLoss(nn.Module):
    """``forward(h1 (B, k), h2 (B, k)) -> (total scalar, parts dict of floats)``.

    Args:
        temperature: tau of NT-Xent (> 0).
        quant_weight: weight of the quantisation term (>= 0).
    """

    def __init__(
        self, temperature: float = SSL_DEFAULTS["temperature"], quant_weight: float = SSL_DEFAULTS["quant_weight"]
    ):
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"ssl temperature={temperature}: must be > 0")
        if quant_weight < 0:
            raise ConfigError(f"ssl quant_weight={quant_weight}: must be >= 0")
        self.temperature = float(temperature)
        self.quant_weight = float(quant_weight)

    def forward(self, h1: torch.Tensor, h2: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        contrast = nt_xent(h1, h2, self.temperature)
        quant = quantization_loss(torch.cat([h1, h2]))
        total = contrast + self.quant_weight * quant
        return total, {
            "contrastive": float(contrast.detach()),
            "ssl_quantization": float(quant.detach()),
            "ssl_total": float(total.detach()),
        }
