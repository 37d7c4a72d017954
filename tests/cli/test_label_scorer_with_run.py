"""Issue 23 item 5: the label scorer is stored with the run when training finishes, from the
training split only, so ``index build`` right after ``train`` stores predicted labels (no
hidden ``mlrsir encode`` step); runs from before keep working through ``codes.npz``."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.errors import DataError
from mlrsir.index.predicted import predicted_scores
from mlrsir.index.store import CodeIndex
from mlrsir.inference.label_prediction import average_precision, load_transfer
from mlrsir.run.label_scorer import LABEL_SCORER_FILE, LabelScorerData, load_label_scorer, save_label_scorer
from tests.cli.test_end_to_end import _train_args
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture(scope="module")
def ucm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scorer")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLRSIR_CACHE", str(tmp / "cache"))
    yield make_ucm_fixture(tmp / "ucm", scenes=3, per_scene=8, size=48)
    mp.undo()


@pytest.fixture(scope="module")
def full_run(ucm, tmp_path_factory):
    run = tmp_path_factory.mktemp("full") / "run"
    assert main(_train_args(ucm, run)) == 0
    return run


def _build(run, ucm, index):
    return main(["index", "build", "--run", str(run), "--images", str(ucm / "Images"), "--index", str(index)])


def test_train_stores_the_scorer_of_the_training_split(full_run, capsys):
    scorer = load_label_scorer(full_run)
    assert scorer is not None
    split = json.loads((full_run / "split.json").read_text())
    trainval = sorted(split["train"] + split["val"])  # paper protocol: trained on train + val
    assert sorted(scorer.items.tolist()) == trainval
    assert not set(scorer.items.tolist()) & set(split["test"])
    meta = json.loads((full_run / "meta.json").read_text())
    assert meta["label_scorer"] == {"file": LABEL_SCORER_FILE, "items": len(trainval), "from": "training split"}
    # the codes are those of the final weights: what `mlrsir encode` writes for the same items
    assert main(["encode", "--run", str(full_run), "--quiet"]) == 0
    capsys.readouterr()
    with np.load(full_run / "codes.npz") as z:
        np.testing.assert_array_equal(scorer.codes, z["codes"][scorer.items])
        np.testing.assert_array_equal(scorer.labels, z["labels"][scorer.items])
    (full_run / "codes.npz").unlink()


def test_index_build_right_after_train_stores_predicted_labels(full_run, ucm, tmp_path, capsys):
    assert not (full_run / "codes.npz").exists()
    assert _build(full_run, ucm, tmp_path / "ix") == 0
    out = capsys.readouterr().out
    assert "stored predicted labels for 24 items" in out, out
    with CodeIndex.open(tmp_path / "ix", readonly=True) as index:
        ids, scores, classes = predicted_scores(index)
    assert len(ids) == 24 and scores.shape == (24, 17) and len(classes) == 17
    # the items carry no ground-truth labels: a label search answers from the predicted ones
    label = classes[int(np.argmax(scores.max(axis=0)))]
    assert main(["search", "--index", str(tmp_path / "ix"), "--labels", label, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {row["label_source"] for row in rows} == {"predicted"}
    assert {row["id"] for row in rows} <= {int(i) for i in ids}


def test_a_run_from_before_falls_back_to_codes_npz(full_run, ucm, tmp_path, capsys):
    old = tmp_path / "old-run"
    old.mkdir()
    for f in full_run.iterdir():
        if f.is_file() and f.name != LABEL_SCORER_FILE:
            (old / f.name).write_bytes(f.read_bytes())
    assert _build(old, ucm, tmp_path / "ix1") == 0
    note = capsys.readouterr().out
    assert f"no predicted labels stored ({old}: no {LABEL_SCORER_FILE}" in note and "mlrsir encode --run" in note
    assert main(["encode", "--run", str(old), "--quiet"]) == 0
    assert _build(old, ucm, tmp_path / "ix2") == 0
    assert "stored predicted labels for 24 items" in capsys.readouterr().out
    # the two sources give the same training codes and labels
    with_file, without = load_transfer(full_run), load_transfer(old)
    order_a = np.lexsort(with_file.train_codes.T)
    order_b = np.lexsort(without.train_codes.T)
    np.testing.assert_array_equal(with_file.train_codes[order_a], without.train_codes[order_b])


def test_partial_supervision_stores_only_labelled_items(ucm, tmp_path):
    run = tmp_path / "partial"
    args = _train_args(ucm, run, "--supervision", "partial", "--label-fraction", "0.25")
    assert main(args) == 0
    scorer = load_label_scorer(run)
    split = json.loads((run / "split.json").read_text())
    trainval = set(split["train"] + split["val"])
    assert scorer is not None and set(scorer.items.tolist()) < trainval
    assert 2 <= len(scorer.items) < len(trainval)
    assert json.loads((run / "meta.json").read_text())["label_scorer"]["from"].startswith("labelled part")


def test_eval_split_val_uses_the_train_part_only(ucm, tmp_path):
    run = tmp_path / "val"
    assert main(_train_args(ucm, run, "--eval-split", "val")) == 0
    scorer = load_label_scorer(run)
    split = json.loads((run / "split.json").read_text())
    assert scorer is not None and sorted(scorer.items.tolist()) == sorted(split["train"])


def test_no_labels_no_scorer(ucm, tmp_path, capsys):
    run = tmp_path / "none"
    assert main(_train_args(ucm, run, "--supervision", "none")) == 0
    assert load_label_scorer(run) is None and not (run / LABEL_SCORER_FILE).exists()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["label_scorer"] is None and "--supervision none" in meta["label_scorer_reason"]
    assert "no label scorer (trained with --supervision none" in capsys.readouterr().out
    # the index gets no predicted labels, and a label search on it is an error saying how to get them
    assert _build(run, ucm, tmp_path / "ix") == 0
    assert "no predicted labels stored" in capsys.readouterr().out
    assert main(["search", "--index", str(tmp_path / "ix"), "--labels", "ship"]) == 2
    err = capsys.readouterr().err
    assert "label search needs labels" in err and "--supervision none" in err


def test_round_trip_and_damaged_file_named(tmp_path):
    codes = np.array([[1, 0, 1], [0, 0, 0]], np.uint8)
    data = LabelScorerData(codes=codes, labels=np.array([[1, 0], [0, 1]]), classes=["a", "b"], items=np.array([4, 7]))
    save_label_scorer(tmp_path, data)
    back = load_label_scorer(tmp_path)
    assert back is not None
    np.testing.assert_array_equal(back.codes, codes)
    assert back.classes == ["a", "b"] and back.items.tolist() == [4, 7]
    (tmp_path / LABEL_SCORER_FILE).write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match=LABEL_SCORER_FILE):
        load_label_scorer(tmp_path)


def test_label_average_precision_is_the_tie_aware_one():
    # 0.9 (not relevant) first; then two tied at 0.5, one relevant: rank 2 or 3 -> (1/2 + 1/3) / 2
    assert average_precision(np.array([0.9, 0.5, 0.5]), np.array([False, True, False])) == pytest.approx(5 / 12)
    # relevant first, then a tie of two holding one relevant: (1 + (2/2 + 2/3) / 2) / 2
    ap = average_precision(np.array([0.8, 0.1, 0.1]), np.array([True, True, False]))
    assert ap == pytest.approx((1 + (1 + 2 / 3) / 2) / 2)
    assert np.isnan(average_precision(np.array([0.3, 0.2]), np.array([False, False])))


def test_label_average_precision_is_the_mean_over_orders_within_ties():
    # brute force: the AP of every order that keeps the score order, averaged
    scores = np.array([0.7, 0.2, 0.7, 0.2, 0.9, 0.2])
    relevant = np.array([True, False, False, True, False, True])
    aps = []
    for order in itertools.permutations(range(len(scores))):
        if any(scores[a] < scores[b] for a, b in itertools.pairwise(order)):
            continue
        hits = relevant[list(order)]
        aps.append(np.mean([hits[: p + 1].mean() for p in np.nonzero(hits)[0]]))
    assert average_precision(scores, relevant) == pytest.approx(np.mean(aps), abs=1e-12)
