"""Which labels the web app can filter and search by, and the checks every label route shares.

The index's classes are the order of multi-hot vectors (relevance, precision). A label is
*usable* (label filter, label search, feedback filter, filter source) only when something
can carry it: some indexed item has ground-truth labels, or the index stores predicted
labels (``mlrsir labels predict``; their classes then). An index built from scenes records
the model's classes but no item has labels: it has no usable labels, ``/api/labels`` lists
none (so the page shows its notice), and every label request is refused with a message
that says how to get labels, never answered with an empty list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mlrsir.data.labels import normalize_class_name
from mlrsir.errors import ConfigError
from mlrsir.index.predicted import prediction_meta
from mlrsir.web.errors import clip

MAX_NAMED_UNKNOWN = 5
"""Unknown labels quoted in one message."""

NO_LABELS = (
    "this archive has no labels (no indexed item carries labels and the index stores no predicted "
    "labels; add them with `mlrsir labels predict --index INDEX`)"
)


class LabelVocabulary:
    """Args:
    on_index: runs ``fn(index)`` on the index thread and returns its result.
    classes: the index's class names, in multi-hot order (may be empty).
    """

    def __init__(self, on_index: Callable[[Callable[[Any], Any]], Any], classes: list[str]):
        self._on_index = on_index
        self.classes = [str(c) for c in classes]
        self._class_pos = {c: i for i, c in enumerate(self.classes)}
        self._counts: dict[str, int] | None = None

    def multi_hot(self, labels: list[str] | None) -> np.ndarray:
        """``(C,)`` uint8 multi-hot vector of ``labels`` over :attr:`classes`."""
        vec = np.zeros(len(self.classes), dtype=np.uint8)
        for label in labels or []:
            pos = self._class_pos.get(label)
            if pos is not None:
                vec[pos] = 1
        return vec

    def counts(self) -> dict[str, int]:
        """Number of indexed items carrying each class as a ground-truth label (computed once)."""
        if self._counts is None:

            def count(idx) -> np.ndarray:
                if hasattr(idx, "label_counts"):  # one SQL pass (CodeIndex), no row per item in Python
                    found = idx.label_counts()
                    return np.array([found.get(c, 0) for c in self.classes], dtype=np.int64)
                totals = np.zeros(len(self.classes), dtype=np.int64)
                for item_id in idx.ids():
                    totals += self.multi_hot(idx.get(int(item_id)).get("labels"))
                return totals

            totals = self._on_index(count) if self.classes else np.zeros(0, dtype=np.int64)
            self._counts = {c: int(n) for c, n in zip(self.classes, totals)}
        return self._counts

    def predictions(self) -> dict | None:
        """The index's predicted-label parameters (``classes``, ``threshold``, ...) or None."""

        try:
            return self._on_index(prediction_meta)
        except AttributeError:  # an index object without the predicted-labels table (test stand-ins)
            return None

    def usable(self) -> list[str]:
        """Labels a filter or a label search can use (module doc); empty when there are none."""
        meta = self.predictions()
        if meta and meta.get("classes"):
            return [str(c) for c in meta["classes"]]
        return list(self.classes) if any(self.counts().values()) else []

    def listing(self) -> dict:
        """``GET /api/labels``: ``{"labels": usable labels, "counts": ground-truth counts}``."""
        labels = self.usable()
        counts = self.counts()
        return {"labels": labels, "counts": {c: counts.get(c, 0) for c in labels}}

    def check(self, labels: list[str], what: str = "labels") -> list[str]:
        """Vocabulary names of ``labels`` (matched like label files: case, ``-``/space
        insensitive; duplicates dropped); ConfigError when the index has no usable labels or
        names an unknown one (at most :data:`MAX_NAMED_UNKNOWN`, each clipped)."""
        if not labels:
            return []
        vocabulary = self.usable()
        if not vocabulary:
            raise ConfigError(f"{what}: {NO_LABELS}, a label filter or label search cannot be used")
        exact = set(vocabulary)
        by_norm = {normalize_class_name(c): c for c in vocabulary}
        known = [label if label in exact else by_norm.get(normalize_class_name(label)) for label in labels]
        unknown = [label for label, match in zip(labels, known) if not match]
        if unknown:
            named = ", ".join(clip(label) for label in unknown[:MAX_NAMED_UNKNOWN])
            more = f" and {len(unknown) - MAX_NAMED_UNKNOWN} more" if len(unknown) > MAX_NAMED_UNKNOWN else ""
            raise ConfigError(f"{what}: unknown label(s) {named}{more}; known labels: {', '.join(vocabulary)}")
        return [str(label) for label in dict.fromkeys(known)]
