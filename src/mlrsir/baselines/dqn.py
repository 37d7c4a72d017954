"""DQN: Deep Quantization Network (Cao, Long, Wang, Zhu, Wen, AAAI 2016).

Network output ``z (B, D)`` (tanh, as in the authors' reference code; D from
:func:`mlrsir.baselines.pq.pq_dim`, about 256 where the paper uses a 300-unit
bottleneck). Loss:

* pairwise cosine loss (DQN Eq. 2), with ``s_ij`` in {-1, +1} (``2 * s01 - 1``):

      L = mean_{i != j} ( s_ij - <z_i, z_j> / (||z_i|| ||z_j||) )^2 ;

* product quantization loss (DQN Eq. 4) ``Q = 1/B sum_i ||z_i - C b_i||^2`` with
  block-diagonal ``C`` = sub-vector PQ, see :mod:`mlrsir.baselines.quantization_method`
  (codes by ICM = nearest codeword per subspace, codebooks by k-means init and
  closed-form updates in :meth:`refit`);
* total ``L + lambda Q`` (DQN Eq. 5), ``lambda`` = ``quant_weight`` (the reference
  script uses 1e-4).

Retrieval: database = PQ codes; distance = AQD from the continuous query (DQN Eq. 8).
"""

from __future__ import annotations

import torch

from mlrsir.baselines.method_base import cosine_matrix, pair_mean
from mlrsir.baselines.quantization_method import QuantizationMethod
from mlrsir.metrics.relevance import similarity_matrix_torch


def dqn_cosine_loss(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean_{i != j} (s_ij - cos(z_i, z_j))^2`` with ``s_ij`` in {-1, +1} (DQN Eq. 2)."""
    s = 2.0 * similarity_matrix_torch(labels, labels).to(z.dtype) - 1.0
    return pair_mean((s - cosine_matrix(z)) ** 2)


class DQN(QuantizationMethod):
    name = "dqn"
    defaults = {"quant_weight": 1e-4, "seed": 0, "kmeans_iters": 25, "refit_iters": 5}

    @property
    def search_space(self):
        return {"quant_weight": [1e-4, 1e-3, 1e-2, 1e-1]}

    def loss(self, out: torch.Tensor, labels: torch.Tensor):
        pair = dqn_cosine_loss(out, labels)
        quant = self.quantization_loss(out)
        total = pair + float(self.hparams["quant_weight"]) * quant
        return total, {"pairwise": float(pair.detach()), "quantization": float(quant.detach()), "total": float(total.detach())}
