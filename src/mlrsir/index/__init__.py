"""Persistent binary-code index and its search back-ends.

* :mod:`mlrsir.index.store` -- ``CodeIndex`` (SQLite metadata + packed codes, atomic
  add/remove, checksums, fingerprint check, search with label filter).
* :mod:`mlrsir.index.backends` -- exact (faiss padded/unpadded, numpy oracle) and
  approximate (faiss multi-index hashing) search over packed codes.
* :mod:`mlrsir.index.integrity` -- checksums and file checks.
* :mod:`mlrsir.index.ingest` -- finding images, labels, encoding into an index.
* :mod:`mlrsir.index.bench` -- ``mlrsir bench search``.
"""
