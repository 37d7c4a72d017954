"""Full MLRSIR-NET training objective: pairwise similarity loss + quantisation penalty.

    L = L_pair(h, S) + quant_weight * Q(h)

``L_pair`` is :class:`~mlrsir.losses.pairwise.PairwiseEuclideanLoss` (the paper's) or
:class:`~mlrsir.losses.likelihood.PairwiseLikelihoodLoss` (DPSH); ``Q`` is
:func:`~mlrsir.losses.quantization.quantization_loss`. ``quant_weight`` (default 0.1) is a
hyperparameter to tune on the validation split.
"""

from __future__ import annotations

import torch
from torch import nn

from mlrsir.errors import ConfigError
from mlrsir.losses.likelihood import PairwiseLikelihoodLoss
from mlrsir.losses.pairwise import PairwiseEuclideanLoss
from mlrsir.losses.quantization import quantization_loss

PAIRWISE = ("euclidean", "likelihood")


class HashingLoss(nn.Module):
    """``forward(h (B, k), labels (B, C)) -> (total scalar tensor, parts dict of floats)``.

    Args:
        pairwise: ``"euclidean"`` or ``"likelihood"``.
        quant_weight: weight of the quantisation term (>= 0).
        **pairwise_options: passed to the pairwise loss (e.g. ``margin``, ``balance``).
    """

    def __init__(self, pairwise: str = "euclidean", quant_weight: float = 0.1, **pairwise_options):
        super().__init__()
        if pairwise == "euclidean":
            self.pairwise = PairwiseEuclideanLoss(**pairwise_options)
        elif pairwise == "likelihood":
            if pairwise_options:
                raise ConfigError(f"pairwise='likelihood' takes no options, got {sorted(pairwise_options)}")
            self.pairwise = PairwiseLikelihoodLoss()
        else:
            raise ConfigError(f"pairwise={pairwise!r}: expected one of {', '.join(PAIRWISE)}")
        if quant_weight < 0:
            raise ConfigError(f"quant_weight={quant_weight}: must be >= 0")
        self.quant_weight = float(quant_weight)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        pair = self.pairwise(h, labels)
        quant = quantization_loss(h)
        total = pair + self.quant_weight * quant
        return total, {"pairwise": float(pair.detach()), "quantization": float(quant.detach()), "total": float(total.detach())}
