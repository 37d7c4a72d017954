"""The checks of an open index (cheap on every open, full with ``verify``; see :mod:`mlrsir.index.store`).

The file-level and row-level pieces live in :mod:`mlrsir.index.integrity` and
:mod:`mlrsir.index.codefile`; this module runs them in one read transaction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mlrsir.errors import IndexStoreError
from mlrsir.index import codefile, integrity
from mlrsir.index.backends import packed_width
from mlrsir.index.catalogue import Catalogue, code_blocks, tombstone_ids


def check_index(catalogue: Catalogue, index_dir: Path, bits: int, verify: bool, deep: bool = False) -> None:
    """Check the index in one read transaction: the cheap checks (code file headers and sizes,
    live count against the tombstones), with ``verify`` the full ones (``PRAGMA
    integrity_check``, block checksums, item checksum, side tables), with ``deep`` also the
    path index against the table. Raises IndexStoreError on a problem."""
    db_path = catalogue.db_path
    with catalogue.reading() as conn:
        meta = integrity.read_meta(conn, db_path)
        if int(meta["format_version"]) >= 3:
            _check_v3(catalogue, Path(index_dir), meta, packed_width(bits), verify)
        else:
            integrity.check_items(conn, db_path, meta, bits, full=verify)
        if deep:
            integrity.compare_path_index(conn, db_path)
            catalogue.check_side_tables(conn)


def _check_v3(catalogue: Catalogue, index_dir: Path, meta: dict, width: int, full: bool) -> None:
    conn = catalogue.connection()
    db_path = catalogue.db_path
    ids, codes = codefile.open_committed(index_dir, meta, width)
    tombstones = tombstone_ids(conn, meta)
    if int(meta["count"]) != ids.size - tombstones.size:
        raise IndexStoreError(
            f"{db_path}: the metadata records {meta['count']} items but the code files hold "
            f"{ids.size} records of which {tombstones.size} removed (index damaged)"
        )
    if not full:
        return
    integrity.check_structure(conn, db_path)
    for kind in codefile.KINDS:
        codefile.verify_blocks(
            codefile.committed_path(index_dir, kind, meta), kind, width, ids.size, code_blocks(conn, kind)
        )
    for start in range(0, max(0, ids.size - 1), 1 << 22):
        part = np.asarray(ids[start : start + (1 << 22) + 1])
        if not (part[1:] > part[:-1]).all():
            raise IndexStoreError(f"{codefile.committed_path(index_dir, 'ids', meta)}: ids are not strictly ascending")
    integrity.check_items_v3(conn, db_path, meta, ids, codes, tombstones)
