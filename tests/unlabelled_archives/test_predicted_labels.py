"""Predicted labels (label transfer), label search and the label filter on predictions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.index.predicted import predicted_labels_of, rank_by_labels
from mlrsir.index.store import CodeIndex
from mlrsir.inference.label_prediction import (
    average_precision,
    best_threshold,
    knn_label_scores,
    label_metrics,
)
from tests.fakes.encoder import fake_encoder  # noqa: F401


def test_knn_scores_match_a_loop():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 2, (40, 16), dtype=np.uint8)
    labels = rng.integers(0, 2, (40, 5), dtype=np.uint8)
    query = rng.integers(0, 2, (7, 16), dtype=np.uint8)
    for weighting in ("uniform", "inverse"):
        got = knn_label_scores(query, train, labels, 6, weighting)
        for q in range(7):
            d = (query[q] != train).sum(1)
            nn = sorted(range(40), key=lambda i: (d[i], i))[:6]
            w = np.array([1.0 if weighting == "uniform" else 1 / (1 + d[i]) for i in nn])
            want = (w[:, None] * labels[nn]).sum(0) / w.sum()
            np.testing.assert_allclose(got[q], want, rtol=1e-5)


def test_average_precision_without_ties_and_expected_value_with_ties():
    rng = np.random.default_rng(2)
    scores, rel = rng.random(50), rng.random(50) < 0.3
    ranked = rel[np.argsort(-scores)]
    hits = np.cumsum(ranked)
    want = np.mean([hits[i] / (i + 1) for i in np.nonzero(ranked)[0]])  # precision at each relevant rank
    assert average_precision(scores, rel) == pytest.approx(want)
    # all tied: expected AP of a random order
    rel = np.array([1, 0, 0, 1, 0], bool)
    from itertools import combinations

    def ap_of(positions):  # relevant items at these ranks (0-based)
        return np.mean([(n + 1) / (p + 1) for n, p in enumerate(sorted(positions))])

    exact = np.mean([ap_of(c) for c in combinations(range(5), 2)])  # every order equally likely
    assert average_precision(np.zeros(5), rel) == pytest.approx(exact)


def test_metrics_and_threshold():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], np.uint8)
    m = label_metrics(labels.astype(float), labels, 0.5, ["a", "b"])
    assert m["macro_f1"] == 1.0 and m["map"] == 1.0
    t, f1 = best_threshold(np.where(labels, 0.7, 0.2), labels)
    assert 0.2 < t <= 0.7 and f1 == 1.0


def test_build_stores_predictions_and_label_search(unlabelled_index, capsys):
    ix = unlabelled_index
    with CodeIndex.open(ix, readonly=True) as index:
        ids = {r["path"].rsplit("/", 1)[-1]: r["id"] for r in index.iter_items()}
        pred = predicted_labels_of(index, ids.values())
        assert pred[ids["allred.png"]]["labels"] == ["red"]
        assert pred[ids["allgreen.png"]]["labels"] == ["green"]
        rows = rank_by_labels(index, ["red", "green"], mode="all", k=5)
        assert rows[0]["path"].endswith("redgreen.png") and rows[0]["label_source"] == "predicted"
        rows = rank_by_labels(index, ["blue"], mode="any", k=5)
        assert rows[0]["path"].endswith("allblue.png")
        known = next(r for r in rows if r["path"].endswith("known.png"))
        assert known["label_source"] == "ground_truth" and known["score"] == 0.0  # truth wins over codes
    assert main(["search", "--index", str(ix), "--labels", "red,green", "--any", "--k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {"score", "label_source", "predicted_labels"} <= set(rows[0])
    assert main(["search", "--index", str(ix), "--labels", "red", "--k", "2"]) == 0
    assert "ground truth 1/0, else predicted" in capsys.readouterr().out


def test_label_filter_uses_predictions_and_says_so(unlabelled_index, tmp_path, capsys):
    from tests.fakes.encoder import write_image

    query = write_image(tmp_path / "q.png", [(0, 200, 0)] * 4, fmt="PNG")
    capsys.readouterr()
    assert main(["search", "--index", str(unlabelled_index), "--query", str(query), "--label", "green"]) == 0
    out = capsys.readouterr().out
    assert "label filter green: mixed labels" in out
    assert "allgreen.png" in out and "redgreen.png" in out and "allred.png" not in out


def test_predict_cli_recompute(unlabelled_index, capsys):
    assert main(["labels", "predict", "--index", str(unlabelled_index), "--recompute"]) == 0
    assert "stored predicted labels for 5 items" in capsys.readouterr().out


def test_index_without_codes_npz_skips_predictions(tmp_path, fake_encoder, capsys):  # noqa: F811
    from tests.fakes.encoder import make_run, write_image

    run = make_run(tmp_path / "run")
    write_image(tmp_path / "im" / "a.png", [(200, 0, 0)] * 4, fmt="PNG")
    args = ["index", "build", "--run", str(run), "--images", str(tmp_path / "im"), "--index", str(tmp_path / "ix")]
    assert main(args + ["--quiet"]) == 0
    assert "note: no predicted labels stored" in capsys.readouterr().out


@pytest.mark.realdata
def test_label_transfer_beats_frequencies_on_ucm():
    from tests.unlabelled_archives.test_feedback import UCM, _encoded_run

    if not UCM.exists():
        pytest.skip(f"{UCM} not present")
    run = _encoded_run()
    if run is None:
        pytest.skip("no encoded UCM run: set MLRSIR_UCM_RUN (mlrsir train + mlrsir encode)")
    from mlrsir.cli.labels_cmd import evaluate

    result = evaluate(str(run))
    test = result["test"]
    assert test["label_transfer"]["macro_f1"] > test["frequency_baseline"]["macro_f1"] + 0.2
    assert test["label_transfer"]["map"] > test["frequency_baseline"]["map"] + 0.3


def test_linear_scorer_separates_labels():
    from mlrsir.inference.label_prediction import LabelTransfer

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2, (200, 8), dtype=np.uint8)
    labels = np.stack([codes[:, 0], codes[:, 1] & codes[:, 2]], 1)  # label = function of the bits
    transfer = LabelTransfer(codes, labels, ["a", "b"], scorer="linear", threshold=0.5)
    scores = transfer.scores(codes)
    assert ((scores[:, 0] >= 0.5) == labels[:, 0].astype(bool)).mean() == 1.0
    assert ((scores[:, 1] >= 0.5) == labels[:, 1].astype(bool)).mean() > 0.9
