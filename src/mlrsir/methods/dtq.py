"""DTQ: Deep Triplet Quantization (Liu, Cao, Long, Wang, Wang, ACM MM 2018).

Network output ``z (B, D)`` (tanh, as in the authors' reference code). Loss:

* triplet loss on squared Euclidean distances (DTQ Eq. 1; the reference code's default
  ``dist_type = euclidean2``):

      l(a, p, n) = max(0, margin + ||z_a - z_p||^2 - ||z_a - z_n||^2) ,

  averaged over the mined triplets. ``margin = margin_per_dim * D`` so that it scales
  with the output width (the reference script uses margin 30 at D = 64, about 0.47 per
  dimension; squared distances of tanh outputs lie in [0, 4D]);
* quantization loss ``Q = 1/B sum_i ||z_i - C b_i||^2`` (DTQ Eq. 5) with sub-vector PQ
  codebooks, shared with DQN (:mod:`mlrsir.methods.quantizer_method`);
* total ``L + lambda Q``, ``lambda`` = ``quant_weight``.

Triplet mining ("Group Hard", DTQ Sec. 3.2). The paper splits the training set into
groups and, inside each group, pairs every anchor-positive pair with one *hard* negative
chosen at random among the negatives that violate the margin (triplet loss > 0);
random choice instead of the hardest negative avoids collapse early in training. Our
variant: the group is the mini-batch (the trainer's random batches play the role of
the random groups), positives share >= 1 label with the anchor (``p != a``), negatives
share none. ``mining = "group_hard"`` (default) picks one violating negative uniformly at
random per (anchor, positive) using a ``torch.Generator`` seeded with ``seed`` (the
draw sequence is reproducible); ``mining = "hardest"`` picks the closest negative,
which is the hardest violating one whenever any negative violates. Pairs without a
violating negative produce no triplet; with no triplet at all the triplet loss is 0.

Weak orthogonality. DTQ adds a penalty ``sum_{m != m'} ||C_m^T C_m'||_F^2`` that pushes
the M codebooks towards mutually orthogonal subspaces. Our codebooks are block-diagonal
(product quantization), for which ``C_m^T C_m' = 0`` exactly, so the penalty is
identically 0 and is omitted (the hard-orthogonal limit of DTQ's constraint).

Retrieval: database = PQ codes; distance = AQD from the continuous query.
"""

from __future__ import annotations

import torch

from mlrsir.errors import ConfigError
from mlrsir.methods.quantizer_method import QuantizationMethod
from mlrsir.metrics.relevance import similarity_matrix_torch

MINING_MODES = ("group_hard", "hardest")


def squared_distance_matrix(z: torch.Tensor) -> torch.Tensor:
    """``(B, D)`` -> ``(B, B)`` ``||z_i - z_j||^2`` (>= 0)."""
    sq = (z * z).sum(1)
    return (sq[:, None] + sq[None, :] - 2.0 * (z @ z.t())).clamp_min(0.0)


def mine_triplets(
    dist: torch.Tensor,
    labels: torch.Tensor,
    margin: float,
    mining: str = "group_hard",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Triplets ``(T, 3)`` int64 (anchor, positive, negative) inside one batch.

    Args:
        dist: ``(B, B)`` squared distances (only compared, never differentiated here).
        labels: ``(B, C)`` multi-hot labels.
        margin: triplet margin.
        mining: ``"group_hard"`` (random violating negative) or ``"hardest"``
            (closest negative, kept only if it violates the margin).
        generator: CPU generator for ``group_hard``.

    Every returned triplet has ``margin + dist[a, p] - dist[a, n] > 0``.
    """
    if mining not in MINING_MODES:
        raise ConfigError(f"mining={mining!r}: expected one of {MINING_MODES}")
    d = dist.detach()
    b = d.shape[0]
    s = similarity_matrix_torch(labels, labels) > 0
    eye = torch.eye(b, dtype=torch.bool, device=d.device)
    pos = s & ~eye  # (a, p)
    neg = ~s  # (a, n)
    # violation[a, p, n] = margin + d[a, p] - d[a, n] > 0, for valid (a, p) and negative n
    violating = (margin + d[:, :, None] - d[:, None, :] > 0) & pos[:, :, None] & neg[:, None, :]
    if mining == "hardest":
        big = torch.finfo(d.dtype).max
        closest = torch.where(neg, d, torch.full_like(d, big)).argmin(dim=1)  # (B,)
        choice = closest[:, None].expand(b, b)  # same negative for every positive of a
        has = torch.gather(violating, 2, choice[:, :, None]).squeeze(2)
    else:
        scores = torch.rand(violating.shape, generator=generator).to(d.device)
        scores = torch.where(violating, scores, torch.full_like(scores, -1.0))
        choice = scores.argmax(dim=2)  # (B, B)
        has = violating.any(dim=2)
    a_idx, p_idx = torch.nonzero(has, as_tuple=True)
    return torch.stack([a_idx, p_idx, choice[a_idx, p_idx]], dim=1)


def triplet_loss(dist: torch.Tensor, triplets: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over triplets of ``max(0, margin + dist[a, p] - dist[a, n])``; 0 if none."""
    if triplets.shape[0] == 0:
        return dist.sum() * 0.0
    a, p, n = triplets.unbind(1)
    return torch.relu(margin + dist[a, p] - dist[a, n]).mean()


class DTQ(QuantizationMethod):
    name = "dtq"
    title = "DTQ"
    # margin_per_dim and quant_weight chosen on the UCM validation split at 32 bits
    # (reports/ucm/tuning/tuning.md)
    defaults = {
        "margin_per_dim": 0.25,
        "quant_weight": 0.1,
        "mining": "group_hard",
        "seed": 0,
        "kmeans_iters": 25,
        "refit_iters": 5,
    }

    @classmethod
    def check_hparams(cls, bits: int, hparams: dict) -> None:
        super().check_hparams(bits, hparams)
        if hparams["mining"] not in MINING_MODES:
            raise ConfigError(f"dtq: mining={hparams['mining']!r}: expected one of {MINING_MODES}")

    def __init__(self, bits: int, **hparams):
        super().__init__(bits, **hparams)
        self.generator = torch.Generator().manual_seed(int(self.hparams["seed"]))

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Codebooks (once fitted) plus the mining generator state, so that a resumed
        run draws the same negatives as an uninterrupted one."""
        state = super().state_dict()
        state["mining_generator_state"] = self.generator.get_state().clone()
        return state

    def load_state_dict(self, state: dict) -> None:
        state = dict(state)
        gen_state = state.pop("mining_generator_state", None)
        if "codebooks" in state or gen_state is None:
            super().load_state_dict(state)  # raises when the codebooks are missing
        if gen_state is not None:
            gen_state = torch.as_tensor(gen_state).to(torch.uint8).cpu()
            self.generator.set_state(gen_state)

    @property
    def margin(self) -> float:
        return float(self.hparams["margin_per_dim"]) * self.out_dim

    @property
    def search_space(self):
        return {"margin_per_dim": [0.25, 0.5], "quant_weight": [0.01, 0.1]}

    def loss(self, out: torch.Tensor, labels: torch.Tensor):
        dist = squared_distance_matrix(out)
        triplets = mine_triplets(dist, labels, self.margin, self.hparams["mining"], self.generator)
        total, parts = self.with_quantization(out, "triplet", triplet_loss(dist, triplets, self.margin))
        return total, {**parts, "num_triplets": float(triplets.shape[0])}
