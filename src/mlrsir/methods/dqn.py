"""DQN: Deep Quantization Network (Cao, Long, Wang, Zhu, Wen, AAAI 2016).

Network output ``z (B, D)`` (tanh, as in the authors' reference code; D from
:func:`mlrsir.methods.product_quantizer.pq_dim`, about 256 where the paper uses a 300-unit
bottleneck). Loss:

* pairwise cosine loss (DQN Eq. 2), with ``s_ij`` in {-1, +1} (``2 * s01 - 1``):

      L = mean_{i < j} ( s_ij - <z_i, z_j> / (||z_i|| ||z_j||) )^2

  (the term is symmetric, so this is also the mean over the ordered pairs ``i != j``);

* product quantization loss (DQN Eq. 4) ``Q = 1/B sum_i ||z_i - C b_i||^2`` with
  block-diagonal ``C`` = sub-vector PQ, see :mod:`mlrsir.methods.quantizer_method`
  (codes by ICM = nearest codeword per subspace, codebooks by k-means init and
  closed-form updates in :meth:`refit`);
* total ``L + lambda Q`` (DQN Eq. 5), ``lambda`` = ``quant_weight`` (the reference
  script uses 1e-4).

Retrieval: database = PQ codes; distance = AQD from the continuous query (DQN Eq. 8).
"""

from __future__ import annotations

import torch

from mlrsir.methods.base import cosine_matrix
from mlrsir.methods.losses import batch_pairs
from mlrsir.methods.quantizer_method import QuantizationMethod


def dqn_cosine_loss(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``mean_{i < j} (s_ij - cos(z_i, z_j))^2`` with ``s_ij`` in {-1, +1} (DQN Eq. 2);
    ``z (B, D)``, labels ``(B, C)``; scalar in [0, 4], 0 (still in the graph) when B < 2."""
    i, j, s01 = batch_pairs(z, labels)
    if s01.numel() == 0:
        return z.sum() * 0.0
    s = 2.0 * s01 - 1.0
    return ((s - cosine_matrix(z)[i, j]) ** 2).mean()


class DQN(QuantizationMethod):
    name = "dqn"
    title = "DQN"
    defaults = {"quant_weight": 1e-4, "seed": 0, "kmeans_iters": 25, "refit_iters": 5}

    @property
    def search_space(self):
        return {"quant_weight": [1e-4, 1e-3, 1e-2, 1e-1]}

    def loss(self, out: torch.Tensor, labels: torch.Tensor):
        return self.with_quantization(out, "pairwise", dqn_cosine_loss(out, labels))
