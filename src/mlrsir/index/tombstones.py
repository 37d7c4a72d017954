"""Removal (tombstones) and compaction of a format 3 index.

``remove`` deletes the rows, their side-table rows, and logs the ids in ``removed`` with the
generation of the removal; their code records stay in the code files as tombstones.
``compact`` writes new code files without them (:mod:`mlrsir.index.store`, module doc).
Both run inside a :class:`~mlrsir.index.transactions.WriteTransaction`.
"""

from __future__ import annotations

import numpy as np

from mlrsir.errors import IndexStoreError
from mlrsir.index import codefile, integrity, saved
from mlrsir.index.catalogue import store_blocks, tombstone_ids
from mlrsir.index.migrate import CHUNK
from mlrsir.index.transactions import WriteTransaction


def delete_items(tx: WriteTransaction, wanted: list[int], width: int) -> int:
    """Remove the items ``wanted`` (sorted ids; unknown ones ignored) and commit; returns how
    many were removed (0: nothing committed)."""
    state = tx.state
    conn = tx.conn
    db_path = tx.catalogue.db_path
    slot_ids, codes = codefile.open_committed(tx.index_dir, state, width)
    total = integrity.from_hex(state["items_checksum"])
    removed = 0
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT id, path, width, height, labels, geo FROM items WHERE id IN ({marks})", part
        ).fetchall()
        if not rows:
            continue
        found = np.array([r[0] for r in rows], dtype=np.int64)
        pos = np.searchsorted(slot_ids, found)
        if (pos >= slot_ids.size).any() or (np.asarray(slot_ids[np.minimum(pos, slot_ids.size - 1)]) != found).any():
            raise IndexStoreError(f"{db_path}: an item to remove has no code record (index damaged)")
        for row, p in zip(rows, pos):
            code = np.asarray(codes[p]).tobytes()
            total -= integrity.row_digest(row[0], row[1], row[2], row[3], row[4], code, row[5])
        conn.execute(f"DELETE FROM items WHERE id IN ({marks})", part)
        tx.catalogue.delete_side_rows(conn, found)
        conn.executemany("INSERT INTO removed VALUES (?, ?)", [(int(i), state["generation"] + 1) for i in found])
        removed += len(rows)
    if not removed:
        return 0
    state.update(count=state["count"] - removed, items_checksum=integrity.to_hex(total % (1 << 256)))
    tx.commit()
    return removed


def compact_files(tx: WriteTransaction, width: int, bits: int) -> dict:
    """Write the code files of the next generation without the tombstones, point the index to
    them, commit and delete the old files; returns ``{"slots_before", "slots_after"}``. Without
    tombstones only side-table rows left without an item are dropped."""
    state = tx.state
    conn = tx.conn
    index_dir = tx.index_dir
    before = int(state["code_slots"])
    meta = {**state}
    tombstones = tombstone_ids(conn, meta)
    pruned = tx.catalogue.prune_side_rows(conn)  # left by a remove before side tables
    if tombstones.size == 0:
        if pruned:
            tx.commit_rows()
        return {"slots_before": before, "slots_after": before}
    slot_ids, codes = codefile.open_committed(index_dir, meta, width)
    new_generation = int(state["generation"]) + 1

    def live_chunks(kind):
        for start in range(0, before, CHUNK):
            part_ids = np.asarray(slot_ids[start : start + CHUNK])
            keep = ~np.isin(part_ids, tombstones)
            yield part_ids[keep] if kind == "ids" else np.asarray(codes[start : start + CHUNK])[keep]

    blocks = []
    for kind in codefile.KINDS:
        target = index_dir / codefile.file_name(kind, new_generation)
        blocks += codefile.write_file(target, kind, width, new_generation, live_chunks(kind))
    store_blocks(conn, blocks, replace_all=True)
    keep_from = new_generation
    tag = saved.newest_usable(index_dir, bits, int(state["generation"]), int(state["removed_log_from"]))
    if tag is not None:
        keep_from = min(keep_from, int(tag["generation"]))
    conn.execute("DELETE FROM removed WHERE generation <= ?", (keep_from,))
    state.update(
        code_file=new_generation,
        code_slots=before - int(tombstones.size),
        compacted_generation=new_generation,
        removed_log_from=keep_from,
    )
    tx.commit()
    codefile.remove_other_generations(index_dir, keep=new_generation)
    return {"slots_before": before, "slots_after": int(state["code_slots"])}
