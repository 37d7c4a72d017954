"""Persistent binary-code index and its search back-ends.

* :mod:`mlrsir.index.store` -- ``CodeIndex`` (SQLite schema, reads, atomic add/remove,
  transactions, fingerprint check); its search methods delegate to the searcher.
* :mod:`mlrsir.index.searcher` -- ``CodeSearcher``: the cached in-memory code matrix, the
  back-end built over it and the label filter.
* :mod:`mlrsir.index.backends` -- exact (faiss padded/unpadded, numpy oracle) and
  approximate (faiss multi-index hashing) search over packed codes.
* :mod:`mlrsir.index.integrity` -- format/version and header checks, item checksums, file checks.
* :mod:`mlrsir.index.ingest` -- finding images, labels, encoding into an index.
"""
