"""``RUN/label_scorer.npz``: what label transfer needs, written when training finishes.

Label transfer (:mod:`mlrsir.inference.label_prediction`) predicts the labels of an
unlabelled code from the codes and labels of the items the run was trained on. Those are
stored with the run by ``mlrsir train`` itself, so ``mlrsir index build`` right after
``train`` stores predicted labels without a separate ``mlrsir encode``.

Contents (``np.savez``, no pickles):

* ``codes``   ``(n, ceil(bits/8))`` uint8, packed {0,1} codes (:func:`mlrsir.codes.pack_codes`)
  of the final weights on the un-augmented training images;
* ``bits``    ``()`` int64, the code length;
* ``labels``  ``(n, C)`` uint8 in {0,1}, the labels those items were trained with;
* ``classes`` ``(C,)`` str, class names in label-column order;
* ``items``   ``(n,)`` int64, the items' indices in the run's dataset (``split.json``
  order): the training split only (``train`` + ``val`` in the paper protocol, ``train``
  with ``--eval-split val``), and under ``--supervision partial`` only its labelled part.

Not written for runs trained without labels (``--supervision none``) or for quantization
methods (their retrieval is not Hamming distance on binary codes).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrsir.codes import pack_codes, unpack_codes
from mlrsir.errors import DataError
from mlrsir.io_atomic import write_bytes_atomic

LABEL_SCORER_FILE = "label_scorer.npz"
_KEYS = ("codes", "bits", "labels", "classes", "items")


@dataclass(frozen=True)
class LabelScorerData:
    """The arrays of ``label_scorer.npz``: ``codes (n, bits)`` uint8 {0,1} (unpacked),
    ``labels (n, C)`` uint8 {0,1}, ``classes`` (C names), ``items (n,)`` int64."""

    codes: np.ndarray
    labels: np.ndarray
    classes: list[str]
    items: np.ndarray


def label_scorer_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / LABEL_SCORER_FILE


def save_label_scorer(run_dir: str | Path, data: LabelScorerData) -> Path:
    """Write ``RUN/label_scorer.npz`` atomically; returns its path."""
    codes = np.asarray(data.codes, dtype=np.uint8)
    labels = np.asarray(data.labels, dtype=np.uint8)
    items = np.asarray(data.items, dtype=np.int64)
    if codes.ndim != 2 or labels.ndim != 2 or len(codes) != len(labels) or len(items) != len(codes):
        raise ValueError(f"label scorer: codes {codes.shape}, labels {labels.shape}, items {items.shape} disagree")
    if labels.shape[1] != len(data.classes):
        raise ValueError(f"label scorer: {labels.shape[1]} label columns for {len(data.classes)} classes")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        codes=pack_codes(codes),
        bits=np.int64(codes.shape[1]),
        labels=labels,
        classes=np.asarray([str(c) for c in data.classes], dtype=str),
        items=items,
    )
    path = label_scorer_path(run_dir)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def load_label_scorer(run_dir: str | Path) -> LabelScorerData | None:
    """The stored scorer of ``run_dir``, or None when the run has none (older runs, runs
    without labels). A damaged file raises :class:`~mlrsir.errors.DataError` naming it."""
    path = label_scorer_path(run_dir)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise DataError(f"{path}: corrupt label scorer (missing {', '.join(missing)})")
            bits = int(z["bits"])
            codes = unpack_codes(z["codes"], bits)
            labels = np.asarray(z["labels"], dtype=np.uint8)
            classes = [str(c) for c in z["classes"]]
            items = np.asarray(z["items"], dtype=np.int64)
    except DataError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: corrupt label scorer ({exc})") from None
    if labels.ndim != 2 or len(labels) != len(codes) or len(items) != len(codes) or labels.shape[1] != len(classes):
        raise DataError(
            f"{path}: corrupt label scorer (codes {codes.shape}, labels {labels.shape}, "
            f"items {items.shape}, {len(classes)} classes)"
        )
    return LabelScorerData(codes=codes, labels=labels, classes=classes, items=items)
