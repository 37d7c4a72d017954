"""Whether labels exist to search by, and the plain message when they do not.

A run trained with ``--supervision none`` records in ``RUN/meta.json`` that it has no label
scorer and why (``"label_scorer": null`` and ``"label_scorer_reason"``, written by
:func:`mlrsir.training.trainer.label_scorer_record`). Label prediction refuses such a run
with that reason, and label search (CLI ``search --labels`` / ``--label`` and the web's
``/api/search/labels``) on an index where no item has labels and none are predicted raises
:class:`LabelsUnavailableError` saying how to get labels, instead of answering an empty list.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlrsir.errors import ConfigError

HOW_TO_GET_LABELS = (
    "give the items labels with `mlrsir index build|add ... --labels FILE`, or build the index with a run "
    "trained with labels (`mlrsir train --supervision full` or `--supervision partial --label-fraction F`: "
    "`index build` then stores predicted labels; for an existing index, `mlrsir labels predict --index IDX`)"
)


class LabelsUnavailableError(ConfigError):
    """Label search or prediction was asked for where no labels exist (the message says how to get them)."""


def run_without_labels_reason(run_dir: str | Path | None) -> str | None:
    """The recorded reason why run ``run_dir`` has no label scorer (``--supervision none``),
    or None (a run trained with labels, an older run, or no readable ``meta.json``)."""
    if not run_dir:
        return None
    meta_file = Path(run_dir) / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or "label_scorer" not in meta or meta["label_scorer"] is not None:
        return None
    return str(meta.get("label_scorer_reason") or "the run was trained without labels")


def labels_unavailable_message(index_path, run_dir: str | Path | None) -> str:
    """``INDEX: label search needs labels: ...`` naming the run's reason (if any) and how to get labels."""
    reason = run_without_labels_reason(run_dir)
    why = f" (its run {run_dir} predicts none: {reason})" if reason else ""
    return (
        f"{index_path}: label search needs labels: no item of this index has labels and none are predicted{why}. "
        f"To get labels, {HOW_TO_GET_LABELS}"
    )
