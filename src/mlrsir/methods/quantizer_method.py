"""Shared part of the quantization methods DQN and DTQ (product quantizer, AQD ranking).

Both learn a continuous embedding ``z (B, D)`` and a product quantizer ``C`` (see
:mod:`mlrsir.methods.product_quantizer` for why the papers' block-diagonal ``C`` is a sub-vector PQ).
The quantization loss (DQN Eq. 4, DTQ Eq. 5) is

    Q = 1/B sum_i || z_i - C b_i ||^2 ,

with ``b_i`` the code of ``z_i`` under the *current* codebooks. The papers keep one code
per training image, refreshed by ICM after each codebook update; this interface gets no
image indices, so ``b_i`` is recomputed for the batch at every step (nearest codeword
per subspace, which is exactly the ICM solution for block-diagonal codebooks). The
codebooks are constants for the gradient step (the papers alternate: network by SGD,
codebooks and codes in closed form), so gradients reach only ``z``.

Codebook schedule (:meth:`refit`): the first call (before the first epoch) runs k-means
from scratch on the training outputs (the papers' k-means initialisation); each later
call runs ``refit_iters`` warm-started Lloyd iterations (= alternating ICM code update
and closed-form least-squares codebook update, DQN Eq. 6-7). Until the first refit the
quantization term is 0, as in the reference code where lambda = 0 before the codebooks
are initialised.

Retrieval: database = PQ codes ``(N, M)``; distance = AQD (DQN Eq. 8) from the
continuous query output.
"""

from __future__ import annotations

import numpy as np
import torch

from mlrsir.errors import ConfigError
from mlrsir.methods.base import QUANTIZATION, Method, to_numpy_f32
from mlrsir.methods.product_quantizer import ProductQuantizer, pq_dim, pq_layout


class QuantizationMethod(Method):
    kind = QUANTIZATION
    retrieval = "aqd"
    needs_refit = True  # codebooks are refitted on the training outputs once per epoch
    activation = "tanh"  # reference code (thulab/DeepHash) runs DQN/DTQ with tanh outputs

    @classmethod
    def check_hparams(cls, bits: int, hparams: dict) -> None:
        pq_layout(bits)  # raises ConfigError for a code length PQ cannot use

    def __init__(self, bits: int, **hparams):
        super().__init__(bits, **hparams)
        m, k = pq_layout(self.bits)
        self.layout = {"num_codebooks": m, "codebook_size": k, "dim": pq_dim(m)}
        self.pq = ProductQuantizer(self.layout["dim"], m, k)
        self._torch_codebooks: dict[torch.device, torch.Tensor] = {}

    @property
    def out_dim(self) -> int:
        return self.layout["dim"]

    @property
    def fitted(self) -> bool:
        return self.pq.codebooks is not None

    # ------------------------------------------------------------------ codebooks
    def refit(self, train_outputs, train_labels=None) -> None:
        """k-means init on the first call, warm-started Lloyd steps afterwards."""
        x = to_numpy_f32(train_outputs)
        if self.fitted:
            self.pq.fit(x, iters=int(self.hparams["refit_iters"]), warm_start=True)
        else:
            self.pq.fit(x, iters=int(self.hparams["kmeans_iters"]), seed=int(self.hparams["seed"]))
        self._torch_codebooks.clear()

    def _codebooks_on(self, device) -> torch.Tensor:
        device = torch.device(device)
        if device not in self._torch_codebooks:
            self._torch_codebooks[device] = torch.from_numpy(self.pq.codebooks).to(device)
        return self._torch_codebooks[device]

    def reconstruct_torch(self, z: torch.Tensor) -> torch.Tensor:
        """``C b`` for ``z (B, D)`` with ``b`` = nearest codeword per subspace; no gradient."""
        cb = self._codebooks_on(z.device).to(z.dtype)  # (M, K, d)
        m, _, d = cb.shape
        with torch.no_grad():
            zs = z.detach().reshape(z.shape[0], m, d).transpose(0, 1)  # (M, B, d)
            dist = torch.cdist(zs, cb) ** 2  # (M, B, K)
            idx = dist.argmin(dim=2)  # (M, B)
            rec = torch.gather(cb, 1, idx[:, :, None].expand(-1, -1, d))  # (M, B, d)
            return rec.transpose(0, 1).reshape(z.shape[0], m * d)

    def quantization_loss(self, z: torch.Tensor) -> torch.Tensor:
        """``1/B sum_i ||z_i - C b_i||^2`` (DQN Eq. 4); 0 before the first :meth:`refit`."""
        if not self.fitted or z.shape[0] == 0:
            return z.sum() * 0.0
        return ((z - self.reconstruct_torch(z)) ** 2).sum(1).mean()

    def with_quantization(self, out: torch.Tensor, term: str, value: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """The training loss ``value + quant_weight * quantization_loss(out)`` (DQN Eq. 5;
        DTQ's total, see :mod:`mlrsir.methods.dtq`) and its logged parts
        ``{term, "quantization", "total"}`` (floats)."""
        quant = self.quantization_loss(out)
        total = value + float(self.hparams["quant_weight"]) * quant
        parts = {term: float(value.detach()), "quantization": float(quant.detach()), "total": float(total.detach())}
        return total, parts

    # ------------------------------------------------------------------ retrieval
    def _check_outputs(self, outputs, name: str) -> np.ndarray:
        x = to_numpy_f32(outputs)
        if x.ndim != 2 or x.shape[1] != self.out_dim:
            raise ValueError(f"{name}: expected shape (N, {self.out_dim}), got {x.shape}")
        if not self.fitted:
            raise RuntimeError(f"method {self.name!r}: refit() must run before encoding (no codebooks yet)")
        return x

    def encode_database(self, outputs) -> np.ndarray:
        """``(N, D)`` float -> ``(N, M)`` PQ codes (uint8 for K <= 256)."""
        return self.pq.encode(self._check_outputs(outputs, "outputs"))

    def distances(self, query_outputs, db_codes) -> np.ndarray:
        """AQD ``(Q, N)`` float32 between continuous queries and PQ-coded database items."""
        return self.pq.aqd(self._check_outputs(query_outputs, "query_outputs"), db_codes)

    # ------------------------------------------------------------------ persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """``{"codebooks": (M, K, d) float32}`` once fitted, else ``{}``."""
        if not self.fitted:
            return {}
        return {"codebooks": torch.from_numpy(np.ascontiguousarray(self.pq.codebooks)).clone()}

    def load_state_dict(self, state: dict) -> None:
        if "codebooks" not in state:
            raise ConfigError(f"method {self.name!r}: saved state has no 'codebooks' (keys {sorted(state)})")
        cb = state["codebooks"]
        cb = cb.detach().cpu().numpy() if isinstance(cb, torch.Tensor) else np.asarray(cb)
        expected = (self.pq.num_codebooks, self.pq.codebook_size, self.pq.sub_dim)
        if cb.shape != expected:
            raise ConfigError(f"method {self.name!r}: saved codebooks have shape {cb.shape}, expected {expected}")
        self.pq.codebooks = cb.astype(np.float32)
        self._torch_codebooks.clear()
