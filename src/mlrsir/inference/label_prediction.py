"""Predicted labels for unlabelled images: label transfer from a run's training codes.

Method (label transfer, kNN in Hamming space): for a code ``b`` the ``k`` nearest codes
of the run's *training* items (ties by training index) vote; the score of label ``j`` is
the weighted fraction of those neighbours carrying ``j``::

    score_j(b) = sum_i w_i * y_ij / sum_i w_i,   i in kNN(b),   w_i = 1 (uniform) or 1 / (1 + d_i)

Scores lie in [0, 1]; a label is predicted when ``score_j >= threshold``. ``k``, the
weighting and the (global) threshold are chosen on the validation split (queries = val,
database = train; :func:`choose_parameters`) and saved in ``RUN/label_transfer.json``
(:func:`save_parameters`); :func:`load_transfer` builds a :class:`LabelTransfer` from a run
directory: its ``label_scorer.npz``, written by ``mlrsir train`` from the training split
(:mod:`mlrsir.run.label_scorer`), or for runs trained before that file existed their
``codes.npz`` (``mlrsir encode``) and ``split.json``. Nothing is retrained and only codes
are needed, so stored items of an index get labels from their stored codes.

Training items = the items the run's model was trained on: the ``train`` split for a run
with ``eval_split = "val"``, else ``train ∪ val`` (``codes.npz``'s ``db_idx``).

The scorer compared with it on validation (``mlrsir labels evaluate``) is a per-label
logistic regression on the ±1 codes (:func:`fit_linear_head`: a classification head on the
hash layer's output, trained without retraining the network); ``label_transfer.json``'s
``scorer`` (``"knn"`` or ``"linear"``) records which one validation chose, and
:class:`LabelTransfer` predicts with it.

Metrics (:func:`label_metrics`): per-label and macro F1 at a threshold, and the mean over
labels of the average precision of the label scores (images ranked by ``score_j``, ties
counted by the expected AP of a random order within ties: the one tie-aware AP of
:mod:`mlrsir.metrics.ranking`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.label_availability import LabelsUnavailableError, run_without_labels_reason
from mlrsir.io_atomic import write_text_atomic
from mlrsir.metrics import ranking
from mlrsir.run.label_scorer import LABEL_SCORER_FILE, load_label_scorer

PARAMS_FILE = "label_transfer.json"
DEFAULT_K = 10
DEFAULT_WEIGHTING = "inverse"
DEFAULT_THRESHOLD = 0.5
K_GRID = (1, 3, 5, 10, 15, 20, 30, 50)
WEIGHTINGS = ("uniform", "inverse")
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def _hamming(q: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``(Q, N)`` int32 Hamming distances of {0,1} codes (chunked matmul)."""
    q = np.asarray(q, dtype=np.float32)
    d = np.asarray(d, dtype=np.float32)
    # d(a, b) = |a| + |b| - 2 <a, b>
    return (q.sum(1, keepdims=True) + d.sum(1)[None, :] - 2 * q @ d.T).round().astype(np.int32)


def knn_label_scores(
    query_codes: np.ndarray,
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    k: int,
    weighting: str = DEFAULT_WEIGHTING,
    chunk: int = 2048,
) -> np.ndarray:
    """``(Q, C)`` float32 label scores in [0, 1] (module doc formula)."""
    if weighting not in WEIGHTINGS:
        raise ConfigError(f"weighting {weighting!r}: expected one of {', '.join(WEIGHTINGS)}")
    train_labels = np.asarray(train_labels, dtype=np.float32)
    n = train_labels.shape[0]
    if n == 0:
        raise DataError("label transfer needs at least one training item")
    k = max(1, min(int(k), n))
    out = np.zeros((len(query_codes), train_labels.shape[1]), dtype=np.float32)
    for start in range(0, len(query_codes), chunk):
        dist = _hamming(query_codes[start : start + chunk], train_codes)
        # stable: by (distance, training index)
        part = np.argpartition(dist + np.arange(n)[None, :] / (n + 1.0), k - 1, axis=1)[:, :k]
        d = np.take_along_axis(dist, part, axis=1).astype(np.float32)
        w = np.ones_like(d) if weighting == "uniform" else 1.0 / (1.0 + d)
        out[start : start + chunk] = np.einsum("qk,qkc->qc", w, train_labels[part]) / w.sum(1, keepdims=True)
    return out


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """Tie-aware AP of ranking items by ``scores`` (descending) against boolean
    ``relevant``: :func:`mlrsir.metrics.ranking.average_precision` (expectation over random
    orders within tied scores) on distances ``-scores``. NaN when nothing is relevant."""
    relevant = np.asarray(relevant, dtype=bool)
    if not relevant.any():
        return float("nan")
    dist = -np.asarray(scores, dtype=np.float64)[None, :]
    return float(ranking.average_precision(dist, relevant[None, :], tie_aware=True)[0])


def label_metrics(scores: np.ndarray, labels: np.ndarray, threshold: float, classes) -> dict:
    """Per-label F1 / precision / recall at ``threshold``, macro F1, per-label AP and mAP."""
    labels = np.asarray(labels, dtype=bool)
    pred = np.asarray(scores) >= threshold
    tp = (pred & labels).sum(0).astype(float)
    fp = (pred & ~labels).sum(0).astype(float)
    fn = (~pred & labels).sum(0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    present = labels.sum(0) > 0
    ap = np.array([average_precision(scores[:, j], labels[:, j]) for j in range(labels.shape[1])])
    micro_den = 2 * tp.sum() + fp.sum() + fn.sum()
    return {
        "threshold": float(threshold),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "micro_f1": float(2 * tp.sum() / micro_den) if micro_den else 0.0,
        "map": float(np.nanmean(ap)) if present.any() else 0.0,
        "per_label": {
            str(c): {
                "support": int(labels[:, j].sum()),
                "f1": float(f1[j]),
                "precision": float(precision[j]),
                "recall": float(recall[j]),
                "ap": None if np.isnan(ap[j]) else float(ap[j]),
            }
            for j, c in enumerate(classes)
        },
    }


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """``(threshold, macro F1)`` maximising macro F1 over :data:`THRESHOLDS` (smallest on ties)."""
    best = (THRESHOLDS[0], -1.0)
    labels = np.asarray(labels, dtype=bool)
    present = labels.sum(0) > 0
    for t in THRESHOLDS:
        pred = scores >= t
        tp = (pred & labels).sum(0)
        den = 2 * tp + (pred & ~labels).sum(0) + (~pred & labels).sum(0)
        f1 = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)[present].mean()
        if f1 > best[1] + 1e-12:
            best = (float(t), float(f1))
    return best


def frequency_scores(train_labels: np.ndarray, n: int) -> np.ndarray:
    """The trivial baseline: every image scored by the training label frequencies."""
    freq = np.asarray(train_labels, dtype=np.float32).mean(0)
    return np.repeat(freq[None, :], n, axis=0)


def choose_parameters(val_codes, val_labels, train_codes, train_labels, ks=K_GRID) -> dict:
    """Grid over ``k`` x weighting on validation; criterion: label-score mAP, then macro F1
    at its best threshold. Returns ``{"k", "weighting", "threshold", "grid": [...]}``."""
    grid = []
    for weighting in WEIGHTINGS:
        for k in ks:
            scores = knn_label_scores(val_codes, train_codes, train_labels, k, weighting)
            t, f1 = best_threshold(scores, val_labels)
            m = label_metrics(scores, val_labels, t, range(val_labels.shape[1]))["map"]
            grid.append({"k": int(k), "weighting": weighting, "threshold": t, "macro_f1": f1, "map": m})
    best = max(grid, key=lambda r: (round(r["map"], 4), round(r["macro_f1"], 4), -r["k"]))
    return {"k": best["k"], "weighting": best["weighting"], "threshold": best["threshold"], "grid": grid}


@dataclass
class LabelTransfer:
    """Training codes/labels of a run and the chosen parameters; :meth:`scores` predicts."""

    train_codes: np.ndarray
    train_labels: np.ndarray
    classes: list[str]
    k: int = DEFAULT_K
    weighting: str = DEFAULT_WEIGHTING
    threshold: float = DEFAULT_THRESHOLD
    source: str = ""
    scorer: str = "knn"  # or "linear": :func:`fit_linear_head` on the training codes

    def scores(self, codes: np.ndarray) -> np.ndarray:
        """``(n, C)`` float32 label scores of ``(n, bits)`` {0,1} codes."""
        codes = np.asarray(codes, dtype=np.uint8).reshape(-1, self.train_codes.shape[1])
        if len(codes) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        if self.scorer == "linear":
            if getattr(self, "_head", None) is None:
                self._head = fit_linear_head(self.train_codes, self.train_labels)
            return self._head(codes)
        return knn_label_scores(codes, self.train_codes, self.train_labels, self.k, self.weighting)


def run_codes(run_dir) -> dict:
    """``RUN/codes.npz`` arrays + split indices: ``codes, labels, classes, outputs, train, val,
    test, trained_on`` (index arrays into the codes)."""
    run_dir = Path(run_dir)
    path = run_dir / "codes.npz"
    if not path.exists():
        raise DataError(f"{path}: not found; run `mlrsir encode --run {run_dir}` first")
    with np.load(path, allow_pickle=False) as z:
        if "codes" not in z.files:
            raise DataError(f"{path}: holds no binary codes (not a hashing run)")
        data = {key: z[key] for key in z.files}
    split_file = run_dir / "split.json"
    split = json.loads(split_file.read_text()) if split_file.exists() else {}
    config_file = run_dir / "config.json"
    config = json.loads(config_file.read_text()) if config_file.exists() else {}
    n = len(data["codes"])
    if split.get("train") is not None:
        train = np.asarray(split["train"], np.int64)
        val = np.asarray(split.get("val", []), np.int64)
        test = np.asarray(split.get("test", []), np.int64)
    else:
        db = np.asarray(data.get("db_idx", np.arange(n)), np.int64)
        train, val = db, np.zeros(0, np.int64)
        test = np.asarray(data.get("query_idx", []), np.int64)
    trained_on = train if config.get("eval_split") == "val" else np.union1d(train, val)
    data.update(
        train=train,
        val=val,
        test=test,
        trained_on=trained_on,
        classes=[str(c) for c in data["classes"]],
        eval_split=config.get("eval_split", "test"),
    )
    return data


def save_parameters(run_dir, params: dict) -> Path:
    """Write ``RUN/label_transfer.json`` (k, weighting, threshold and how they were chosen)."""

    path = Path(run_dir) / PARAMS_FILE
    write_text_atomic(path, json.dumps(params, indent=2) + "\n")
    return path


def load_transfer(run_dir) -> LabelTransfer:
    """A :class:`LabelTransfer` of a run: its training items' codes and labels from
    ``label_scorer.npz`` (else ``codes.npz``) and the parameters of ``label_transfer.json``
    (defaults when absent).
    A run trained without labels (``--supervision none``) is refused with its recorded reason."""

    reason = run_without_labels_reason(run_dir)
    if reason is not None:
        raise LabelsUnavailableError(f"{run_dir}: no predicted labels: {reason}")
    stored = load_label_scorer(run_dir)
    if stored is not None:
        codes, labels, classes = stored.codes, stored.labels, stored.classes
    else:  # runs trained before the scorer was stored with the run
        if not (Path(run_dir) / "codes.npz").is_file():
            raise DataError(
                f"{run_dir}: no {LABEL_SCORER_FILE} (written by `mlrsir train` since it exists) and no codes.npz; "
                f"run `mlrsir encode --run {run_dir}` first"
            )
        data = run_codes(run_dir)
        idx = data["trained_on"]
        codes, labels, classes = data["codes"][idx], data["labels"][idx], data["classes"]
    params_file = Path(run_dir) / PARAMS_FILE
    params = json.loads(params_file.read_text()) if params_file.exists() else {}
    return LabelTransfer(
        train_codes=np.asarray(codes, np.uint8),
        train_labels=np.asarray(labels, np.uint8),
        classes=list(classes),
        k=int(params.get("k", DEFAULT_K)),
        weighting=str(params.get("weighting", DEFAULT_WEIGHTING)),
        threshold=float(params.get("threshold", DEFAULT_THRESHOLD)),
        source=str(params_file) if params else "defaults",
        scorer=str(params.get("scorer", "knn")),
    )


def fit_linear_head(codes, labels, l2: float = 1e-3, steps: int = 500, lr: float = 0.5):
    """A per-label logistic regression on the ±1 codes (full-batch gradient descent): the
    cheap stand-in for a classification head beside the hash head, compared on validation.
    Returns ``predict(codes) -> (n, C) scores in (0, 1)``."""
    x = 2.0 * np.asarray(codes, np.float64) - 1.0
    x = np.hstack([x, np.ones((len(x), 1))])
    y = np.asarray(labels, np.float64)
    w = np.zeros((x.shape[1], y.shape[1]))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= lr * (x.T @ (p - y) / len(x) + l2 * w)

    def predict(new_codes):
        z = 2.0 * np.asarray(new_codes, np.float64) - 1.0
        z = np.hstack([z, np.ones((len(z), 1))])
        return (1.0 / (1.0 + np.exp(-(z @ w)))).astype(np.float32)

    return predict
