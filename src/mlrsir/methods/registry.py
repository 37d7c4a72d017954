"""Registry of retrieval methods: ``get_method(name, bits, **hparams) -> Method``.

Names (:data:`METHOD_NAMES`):

========= ============================================ ========= ======================
name      loss                                         retrieval database representation
========= ============================================ ========= ======================
mlrsir    MLRSIR-NET pairwise (+ quantization) loss,   hamming   binarize(h), (N, k) uint8
          :class:`mlrsir.methods.mlrsir.HashingLoss`
dhn       DHN (AAAI 2016)                              hamming   binarize(h)
dch       DCH (CVPR 2018)                              hamming   binarize(h)
dqn       DQN (AAAI 2016)                              aqd       PQ codes (N, M) uint8
dtq       DTQ (ACM MM 2018)                            aqd       PQ codes (N, M) uint8
========= ============================================ ========= ======================

Every method class carries its facts: ``name``, ``title`` (printed name), ``kind``
(``"hashing"`` | ``"quantization"``), ``retrieval``, ``needs_refit`` (see
:class:`mlrsir.methods.base.Method`); :func:`find_method_class` gives them without building
a method. Every method object has ``name``, ``bits``, ``retrieval``, ``out_dim``, ``activation``,
``hparams``, ``search_space``, ``loss(out, labels) -> (scalar, parts)``,
``refit(train_outputs, train_labels)``, ``encode_database(outputs)``,
``distances(query_outputs, db) -> (Q, N)``, ``state_dict()``, ``load_state_dict(d)``;
see :mod:`mlrsir.methods.base`. ``get_method(m.name, m.bits, **m.hparams)`` rebuilds an
equivalent method (codebooks come from ``load_state_dict``).

Adding a method: one file in :mod:`mlrsir.methods` with its class (and its ``defaults``),
plus one line in :data:`METHODS`.
"""

from __future__ import annotations

from typing import Any

from mlrsir.errors import registered_name
from mlrsir.methods.base import Method
from mlrsir.methods.dch import DCH
from mlrsir.methods.dhn import DHN
from mlrsir.methods.dqn import DQN
from mlrsir.methods.dtq import DTQ
from mlrsir.methods.mlrsir import MLRSIRMethod

METHODS: dict[str, type[Method]] = {
    "mlrsir": MLRSIRMethod,
    "dhn": DHN,
    "dch": DCH,
    "dqn": DQN,
    "dtq": DTQ,
}
METHOD_NAMES = tuple(METHODS)
DEFAULT_METHOD = "mlrsir"


def normalize_method_name(name: str) -> str:
    """The registry name of ``name`` (case-insensitive); ConfigError listing the choices."""
    return registered_name(name, METHODS, "method")


def find_method_class(name: str) -> type[Method] | None:
    """The class of method ``name`` (case-insensitive), carrying its facts (``title``,
    ``kind``, ``retrieval``, ``needs_refit``); None for a name not in the registry."""
    return METHODS.get(str(name).lower())


def method_defaults(name: str, bits: int) -> dict[str, Any]:
    """The default hyperparameters of method ``name`` at code length ``bits``."""
    return METHODS[normalize_method_name(name)].default_hparams(bits)


def resolve_method_params(name: str, bits: int, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """``params`` completed with the method's defaults and checked (no method object built).

    Raises :class:`ConfigError` for an unknown method, an unusable code length or an
    unknown / invalid hyperparameter.
    """
    return METHODS[normalize_method_name(name)].resolve_hparams(bits, **dict(params or {}))


def get_method(name: str, bits: int, **hparams) -> Method:
    """Build a method by name (case-insensitive) for a code length.

    Raises :class:`ConfigError` for an unknown name, an unusable code length (e.g. PQ
    needs ``bits % 4 == 0``) or an unknown hyperparameter.
    """
    return METHODS[normalize_method_name(name)](bits, **hparams)
