"""Predicted label scores of indexed items, in their own table (created when absent).

::

    predicted_labels(item_id INTEGER PRIMARY KEY, scores BLOB)  -- float32 (C,) in index class order
    predicted_labels_meta(key TEXT PRIMARY KEY, value TEXT)    -- JSON: classes, k, weighting,
                                                               -- threshold, run_dir, source

Scores come from :class:`mlrsir.inference.label_prediction.LabelTransfer` (label transfer
from the run's training codes) and are computed from the stored codes, so
:func:`update_predictions` can fill items added by any earlier build/add. The table is
outside the item checksum (it is derived data: rebuilt from the codes at any time with
``mlrsir labels predict --index IDX``). It is a registered side table
(:mod:`mlrsir.index.catalogue`): rows of removed items are deleted with them, ``compact``
drops rows left by older removals, the deep verification checks the score lengths. A
separate table keeps this apart from the ``items`` schema and its migrations.

Label search (:func:`rank_by_labels`): items ranked by the labels' scores, ground-truth
labels (when an item has them) taking precedence as scores 1/0: ``mode="all"`` ranks by
the minimum score over the wanted labels, ``"any"`` by the maximum (ties: mean, then id).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlrsir.data.labels import normalize_class_name
from mlrsir.errors import ConfigError, IndexStoreError
from mlrsir.index.catalogue import SideTable, register_side_table
from mlrsir.inference.label_availability import LabelsUnavailableError, labels_unavailable_message
from mlrsir.inference.label_prediction import load_transfer

_DDL = (
    "CREATE TABLE IF NOT EXISTS predicted_labels (item_id INTEGER PRIMARY KEY, scores BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS predicted_labels_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _check_table(conn, db_path) -> None:
    """Deep verification: every stored score vector holds one float32 per stored class."""
    try:
        meta = prediction_meta_unlocked(conn)
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise IndexStoreError(f"{db_path}: predicted_labels_meta is corrupt ({exc})") from None
    classes = meta.get("classes")
    if not isinstance(classes, list):
        raise IndexStoreError(f"{db_path}: predicted_labels_meta records no class list")
    nbytes = 4 * len(classes)
    bad = conn.execute(
        "SELECT COUNT(*) FROM predicted_labels WHERE typeof(scores) != 'blob' OR length(scores) != ?", (nbytes,)
    ).fetchone()[0]
    if bad:
        raise IndexStoreError(
            f"{db_path}: {bad} predicted label rows do not hold {len(classes)} float32 scores "
            "(rebuild them with `mlrsir labels predict --index IDX --recompute`)"
        )


SIDE_TABLE = register_side_table(
    SideTable("predicted_labels", extra_tables=("predicted_labels_meta",), check=_check_table)
)
"""Rows of a removed item are deleted with it (:mod:`mlrsir.index.catalogue`)."""


def prediction_meta(index) -> dict | None:
    """The stored parameters (``classes``, ``k``, ``weighting``, ``threshold``, ...) or None."""
    catalogue = index.catalogue
    if not catalogue.has_table("predicted_labels"):
        return None
    rows = catalogue.query("SELECT key, value FROM predicted_labels_meta")
    return {k: json.loads(v) for k, v in rows} or None


def update_predictions(index, transfer=None, *, recompute: bool = False, chunk: int = 20000) -> int:
    """Store label scores for every item without them (all items with ``recompute``);
    returns how many were written. ``transfer`` defaults to the index run's
    (:func:`mlrsir.inference.label_prediction.load_transfer`)."""

    if transfer is None:
        if not index.run_dir:
            raise ConfigError(f"{index.db_path}: the index records no run directory to predict labels with")
        transfer = load_transfer(index.run_dir)
    meta = {
        "classes": list(transfer.classes),
        "k": transfer.k,
        "weighting": transfer.weighting,
        "threshold": transfer.threshold,
        "run_dir": index.run_dir,
        "source": transfer.source,
    }
    ids = index.ids()
    with index.catalogue.transaction() as conn:
        for ddl in _DDL:
            conn.execute(ddl)
        old = prediction_meta_unlocked(conn)
        if recompute or (old and old.get("classes") != meta["classes"]):
            conn.execute("DELETE FROM predicted_labels")
        have = {r[0] for r in conn.execute("SELECT item_id FROM predicted_labels")}
        stale = sorted(have - {int(i) for i in ids})
        conn.executemany("DELETE FROM predicted_labels WHERE item_id = ?", [(i,) for i in stale])
        conn.executemany(
            "INSERT OR REPLACE INTO predicted_labels_meta VALUES (?, ?)",
            [(k, json.dumps(v)) for k, v in meta.items()],
        )
    todo = np.array([i for i in ids if int(i) not in have or recompute], dtype=np.int64)
    written = 0
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        scores = transfer.scores(index.codes(ids=part)).astype(np.float32)
        with index.catalogue.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO predicted_labels VALUES (?, ?)",
                [(int(i), s.tobytes()) for i, s in zip(part, scores)],
            )
        written += len(part)
    return written


def prediction_meta_unlocked(conn) -> dict:
    return {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM predicted_labels_meta").fetchall()}


def predicted_scores(index, ids=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(ids (n,) int64, scores (n, C) float32, classes)`` of the items with predictions
    (all, or those of ``ids`` that have them), id order."""
    meta = prediction_meta(index)
    if meta is None:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), []
    classes = list(meta["classes"])
    rows = index.catalogue.query("SELECT item_id, scores FROM predicted_labels ORDER BY item_id")
    got = np.array([r[0] for r in rows], dtype=np.int64)
    scores = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), len(classes))
    if ids is not None:
        keep = np.isin(got, np.asarray(list(ids), dtype=np.int64))
        got, scores = got[keep], scores[keep]
    return got, scores, classes


def predicted_labels_of(index, ids) -> dict[int, dict]:
    """``{id: {"labels": [...], "scores": {label: score}}}`` for ids with predictions."""
    meta = prediction_meta(index)
    if meta is None:
        return {}
    got, scores, classes = predicted_scores(index, ids)
    t = float(meta.get("threshold", 0.5))
    return {
        int(i): {
            "labels": [c for c, v in zip(classes, s) if v >= t],
            "scores": {c: round(float(v), 4) for c, v in zip(classes, s)},
        }
        for i, s in zip(got, scores)
    }


def _label_columns(classes: list[str], wanted) -> list[int]:
    names = [normalize_class_name(c) for c in classes]
    cols = []
    for label in wanted:
        key = normalize_class_name(label)
        if key not in names:
            raise ConfigError(f"label {label!r}: not one of the index's classes ({', '.join(classes)})")
        cols.append(names.index(key))
    return cols


def labelled_count(index) -> int:
    """How many items of ``index`` have ground-truth labels."""
    return index.catalogue.labelled_count()


def label_score_matrix(index, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(ids, scores (n, L), from_truth (n,) bool, classes)`` for the wanted labels: an
    item's ground-truth labels (1/0) when it has them, else its predicted scores; items
    with neither are left out."""
    meta = prediction_meta(index)
    classes = list(meta["classes"]) if meta else list(index.classes or [])
    if not classes:
        raise LabelsUnavailableError(labels_unavailable_message(index.path, index.run_dir))
    cols = _label_columns(classes, labels)
    pid, pscores, _ = predicted_scores(index)
    by_id = {int(i): pscores[n, cols] for n, i in enumerate(pid)}
    ids, rows, truth = [], [], []
    wanted = [normalize_class_name(classes[c]) for c in cols]
    for item in index.iter_items():
        if item["labels"] is not None:
            have = {normalize_class_name(x) for x in item["labels"]}
            rows.append(np.array([1.0 if w in have else 0.0 for w in wanted], np.float32))
            truth.append(True)
        elif item["id"] in by_id:
            rows.append(by_id[item["id"]])
            truth.append(False)
        else:
            continue
        ids.append(item["id"])
    if not rows and meta is None and not labelled_count(index):
        raise LabelsUnavailableError(labels_unavailable_message(index.path, index.run_dir))
    scores = np.vstack(rows) if rows else np.zeros((0, len(cols)), np.float32)
    return np.array(ids, np.int64), scores, np.array(truth, bool), classes


def rank_by_labels(index, labels, *, mode: str = "all", k: int = 20) -> list[dict]:
    """Items ranked by their scores for ``labels`` (module doc); rows ``{rank, id, score,
    label_source ("ground_truth" | "predicted"), path, width, height, labels,
    predicted_labels}``."""
    if mode not in ("all", "any"):
        raise ConfigError(f"mode {mode!r}: expected 'all' or 'any'")
    labels = [str(x) for x in labels if str(x).strip()]
    if not labels:
        raise ConfigError("search by labels needs at least one label")
    ids, scores, truth, _classes = label_score_matrix(index, labels)
    if len(ids) == 0:
        return []
    main = scores.min(1) if mode == "all" else scores.max(1)
    order = np.lexsort((ids, -scores.mean(1), -main))[: int(k)]
    records = index.get_many(ids[order].tolist())
    predicted = predicted_labels_of(index, ids[order].tolist())
    rows: list[dict[str, Any]] = []
    for j in order:
        item_id = int(ids[j])
        record = records.get(item_id)
        if record is None:
            continue
        rows.append(
            {
                "rank": len(rows) + 1,
                "id": item_id,
                "score": round(float(main[j]), 4),
                "label_source": "ground_truth" if truth[j] else "predicted",
                "path": record["path"],
                "width": record.get("width"),
                "height": record.get("height"),
                "labels": record.get("labels"),
                "predicted_labels": predicted.get(item_id, {}).get("labels"),
            }
        )
    return rows


def ids_with_labels_predicted(index, labels) -> tuple[np.ndarray, str]:
    """The label filter over predicted labels where items have no ground truth: ids of
    items carrying all ``labels`` (truth, or predicted score >= threshold), and which
    source was used: ``"ground_truth"``, ``"predicted"`` or ``"mixed"``."""
    meta = prediction_meta(index)
    try:
        ids, scores, truth, _ = label_score_matrix(index, labels)
    except ConfigError:  # a label no item can carry: no results, as for the stored-label filter
        return np.zeros(0, np.int64), "predicted"
    t = float(meta.get("threshold", 0.5)) if meta else 0.5
    keep = (scores >= np.where(truth, 1.0, t)[:, None]).all(1) if len(ids) else np.zeros(0, bool)
    used = set(np.where(truth, "ground_truth", "predicted").tolist())
    source = "mixed" if len(used) > 1 else (used.pop() if used else "ground_truth")
    return ids[keep], source


def label_filter_ids(index, labels) -> tuple[np.ndarray, str]:
    """Ids passing the label filter and the labels used: ``"ground_truth"`` when the index
    holds no predictions (the stored labels only, as before), else
    :func:`ids_with_labels_predicted` (ground truth where an item has it, predicted
    labels elsewhere; ``"predicted"`` or ``"mixed"``)."""
    if prediction_meta(index) is None:
        if labels and not labelled_count(index):
            raise LabelsUnavailableError(labels_unavailable_message(index.path, index.run_dir))
        return index.ids_with_labels(list(labels)), "ground_truth"
    return ids_with_labels_predicted(index, labels)
