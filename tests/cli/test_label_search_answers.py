"""Issue 24 item 18: label searches never answer like success when they found nothing:
``--label`` and ``--labels`` refuse unknown or empty labels alike, items scored 0 are left
out, and an empty answer says so (exit 1)."""

from __future__ import annotations

import json

import pytest

from mlrsir.cli.main import main
from tests.cli.test_end_to_end import _train_args
from tests.fixtures.make_datasets import make_ucm_fixture


@pytest.fixture(scope="module")
def labelled_index(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("labels")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLRSIR_CACHE", str(tmp / "cache"))
    ucm = make_ucm_fixture(tmp / "ucm", scenes=3, per_scene=6, size=48)
    run = tmp / "run"
    assert main(_train_args(ucm, run)) == 0
    index = tmp / "ix"
    labels = ucm / "LandUse_Multilabeled.txt"
    args = ["index", "build", "--run", str(run), "--images", str(ucm / "Images"), "--index", str(index)]
    assert main([*args, "--labels", str(labels), "--quiet"]) == 0
    yield index, sorted((ucm / "Images").rglob("*.jpg"))
    mp.undo()


@pytest.mark.parametrize("option", ["--label", "--labels"])
@pytest.mark.parametrize("value", ["nosuchlabel", ""])
def test_unknown_or_empty_labels_are_one_error(labelled_index, capsys, option, value):
    index, images = labelled_index
    query = [] if option == "--labels" else ["--query", str(images[0])]
    assert main(["search", "--index", str(index), *query, option, value]) == 2
    err = capsys.readouterr().err
    assert option in err
    assert ("unknown label" in err and "known labels:" in err) if value else "no label given" in err


def test_items_scored_zero_are_left_out_and_empty_answers_say_so(labelled_index, capsys):
    index, _ = labelled_index
    capsys.readouterr()
    assert main(["search", "--index", str(index), "--labels", "sand", "--k", "100", "--json"]) in (0, 1)
    rows = json.loads(capsys.readouterr().out)
    assert all(row["score"] > 0 for row in rows)
    # every pair of labels none of the items carries together gives an empty answer, exit 1
    code = main(["search", "--index", str(index), "--labels", "airplane,sea,tanks,chaparral", "--all"])
    captured = capsys.readouterr()
    assert code == 1 and "no results" in captured.err and "airplane" in captured.err
