"""Persistent binary-code index and its search back-ends.

* :mod:`mlrsir.index.store` -- ``CodeIndex`` (SQLite schema, reads, atomic add/remove,
  tombstones and compaction, transactions, format migration, fingerprint check); its search
  methods delegate to the searcher.
* :mod:`mlrsir.index.codefile` -- the memory-mapped code and id files (format 3), appends,
  atomic rewrites, block checksums.
* :mod:`mlrsir.index.saved` -- the saved IVF search structure (``ivf.<g>.faiss``).
* :mod:`mlrsir.index.searcher` -- ``CodeSearcher``: the snapshot of the mapped codes, the
  back-ends built over it (or loaded), and the label filter.
* :mod:`mlrsir.index.backends` -- exact (faiss padded/unpadded, numpy oracle) and
  approximate (faiss multi-index hashing) search over packed codes.
* :mod:`mlrsir.index.integrity` -- format/version and header checks, item checksums, file checks.
* :mod:`mlrsir.index.ingest` -- finding images, labels, encoding into an index.
"""
