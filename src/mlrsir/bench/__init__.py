"""Benchmarks behind the ``mlrsir bench`` command group (see :mod:`mlrsir.cli.bench`).

* :mod:`mlrsir.bench.search` -- ``mlrsir bench search``: speed, memory and recall of the
  index back-ends against float search.
* :mod:`mlrsir.bench.load` -- ``mlrsir bench load``: concurrent clients against
  ``mlrsir serve`` (throughput, latency, errors, memory).

Not to be confused with ``mlrsir benchmark`` (:mod:`mlrsir.cli.benchmark`), which trains and
evaluates the grid of retrieval methods and writes the accuracy report.
"""
