"""Retrieval methods: everything that defines one, one file per method.

* :mod:`~mlrsir.methods.base` -- the common interface (``Method``, ``HammingMethod``)
  and the defaults-table convention;
* :mod:`~mlrsir.methods.losses` -- pairwise (Euclidean, likelihood) and quantization
  losses on relaxed codes, and the one pair enumeration (``batch_pairs``);
* :mod:`~mlrsir.methods.mlrsir` -- MLRSIR-NET (``HashingLoss``, ``MLRSIRMethod``);
* :mod:`~mlrsir.methods.dhn`, :mod:`~mlrsir.methods.dch` -- hashing baselines (Hamming);
* :mod:`~mlrsir.methods.dqn`, :mod:`~mlrsir.methods.dtq` -- quantization baselines (AQD),
  on :mod:`~mlrsir.methods.quantizer_method` and
  :mod:`~mlrsir.methods.product_quantizer`;
* :mod:`~mlrsir.methods.registry` -- ``get_method``, ``METHOD_NAMES``, the defaults lookup.
"""

from mlrsir.methods.registry import METHOD_NAMES, get_method

__all__ = ["METHOD_NAMES", "get_method"]
