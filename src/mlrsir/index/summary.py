"""The summary of an index that ``mlrsir index info`` prints (:meth:`mlrsir.index.store.CodeIndex.info`)."""

from __future__ import annotations

from mlrsir.index import codefile, saved
from mlrsir.index.backends import packed_width
from mlrsir.index.catalogue import tombstone_ids


def summarize(index) -> dict:
    """JSON-able summary of an open index: path, format, bits, fingerprint, run_dir, classes,
    count, sizes, ``side_tables`` (``{name: {"rows", "orphaned"}}``); for format 3 also the code
    files, slots, tombstones and the saved search structure (or None)."""
    catalogue = index.catalogue
    with catalogue.reading() as conn:
        meta = catalogue.read_meta()
        labelled = catalogue.labelled_count()
        removed = tombstone_ids(conn, meta).size if int(meta["format_version"]) >= 3 else 0
    out = {
        "path": str(index.path),
        "database": str(index.db_path),
        "format": meta["format"],
        "format_version": meta["format_version"],
        "bits": meta["bits"],
        "bytes_per_code": packed_width(meta["bits"]),
        "count": meta["count"],
        "labelled": int(labelled),
        "next_id": meta["next_id"],
        "generation": meta["generation"],
        "fingerprint": meta["fingerprint"],
        "run_dir": meta["run_dir"],
        "classes": meta["classes"],
        "images_root": meta.get("images_root"),
        "created": meta["created"],
        "radiometry": meta.get("radiometry"),
        "database_bytes": index.db_path.stat().st_size,
        "items_checksum": meta["items_checksum"],
        "side_tables": catalogue.side_table_report(),
    }
    if int(meta["format_version"]) >= 3:
        files = {kind: codefile.committed_path(index.path, kind, meta) for kind in codefile.KINDS}
        tag = saved.newest_usable(index.path, index.bits, int(meta["generation"]), int(meta["removed_log_from"]))
        out.update(
            code_files={kind: file.name for kind, file in files.items()},
            codes_bytes=files["codes"].stat().st_size,
            ids_bytes=files["ids"].stat().st_size,
            code_slots=meta["code_slots"],
            tombstones=int(removed),
            saved_search=None
            if tag is None
            else {k: tag[k] for k in ("file", "generation", "nlist", "ntotal", "bytes")},
        )
    return out


def _saved_tag(tag: dict | None) -> dict | None:
    return None if tag is None else {k: tag[k] for k in ("file", "generation", "nlist", "ntotal", "bytes")}
