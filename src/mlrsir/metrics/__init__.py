"""Retrieval metrics.

* :mod:`~mlrsir.metrics.relevance` -- the single relevance definition (share >= 1 label).
* :mod:`~mlrsir.metrics.hamming` -- the single Hamming distance.
* :mod:`~mlrsir.metrics.ranking` -- AP/mAP (stable and tie-aware), mAP@K, P@K, NDCG, ACG.
* :mod:`~mlrsir.metrics.curves` -- PR by Hamming radius, PR by rank, P@N.
* :mod:`~mlrsir.metrics.evaluate` -- ``evaluate_distances`` / ``evaluate_codes``: every
  evaluation in mlrsir goes through these.
* :mod:`~mlrsir.metrics.recall` -- recall@k of approximate search against exact, with ties.
* :mod:`~mlrsir.metrics.floors` -- random-codes and random-ranking chance floors.
"""
