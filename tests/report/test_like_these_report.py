"""mlrsir feedback like-these on a generated run: the simulation and its CLI."""

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.report.like_these import simulate_like_these


@pytest.fixture()
def fake_run(tmp_path):
    """A run whose codes are two clean clusters: class 'a' near 0...0, class 'b' near 1...1."""
    rng = np.random.default_rng(0)
    n, bits = 240, 16
    labels = np.zeros((n, 2), np.uint8)
    labels[: n // 2, 0] = 1
    labels[n // 2 :, 1] = 1
    centre = labels[:, 1:2].repeat(bits, 1)
    codes = (centre ^ (rng.random((n, bits)) < 0.05)).astype(np.uint8)
    run = tmp_path / "run"
    run.mkdir()
    np.savez(run / "codes.npz", codes=codes, labels=labels, classes=np.array(["a", "b"]))
    order = rng.permutation(n)
    split = {"train": order[:120].tolist(), "val": order[120:170].tolist(), "test": order[170:].tolist()}
    (run / "split.json").write_text(json.dumps(split))
    return run


def test_clean_clusters_give_full_precision_to_both_methods(fake_run):
    result = simulate_like_these(fake_run, trials=3, rounds=2, k=5, mark=5, n_resamples=100)
    assert result["archive_size"] == 70 and result["classes"] == 2 and result["searches"] == 6
    for r in result["by_round"]:
        assert r["classifier"] == pytest.approx(1.0) and r["rocchio"] == pytest.approx(1.0)
        assert r["difference"] == pytest.approx(0.0)


def test_too_few_members_is_an_error_not_an_empty_report(fake_run):
    with pytest.raises(ValueError, match="no class has enough members"):
        simulate_like_these(fake_run, positives=200, n_resamples=10)


def test_cli_chooses_l2_on_validation_and_writes_the_report(fake_run, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["feedback", "like-these", "--run", str(fake_run), "--trials", "2", "--rounds", "2",
                 "--k", "5", "--mark", "5", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "l2 chosen on the validation split" in printed and "round 2:" in printed
    data = json.loads((out / "like_these.json").read_text())
    assert data["split"] == "test" and [c["l2"] for c in data["l2_validation"]] == [0.1, 1.0, 10.0]
    assert "| 1 |" in (out / "like_these.md").read_text()


def test_cli_held_class_searches_only_that_class(fake_run, tmp_path, capsys):
    out = tmp_path / "held"
    assert main(["feedback", "like-these", "--run", str(fake_run), "--trials", "4", "--rounds", "1",
                 "--k", "5", "--mark", "5", "--l2", "10", "--classes", "b", "--out", str(out)]) == 0  # fmt: skip
    data = json.loads((out / "like_these.json").read_text())
    assert data["classes"] == 1 and data["searches"] == 4 and list(data["per_class"]) == ["b"]
    assert (
        data["settings"]["classes"] == ["b"]
        and "Held classes (the only ones searched): b." in (out / "like_these.md").read_text()
    )
    capsys.readouterr()
    assert main(["feedback", "like-these", "--run", str(fake_run), "--classes", "ship", "--out", str(out)]) != 0
    assert "--classes 'ship': unknown class ['ship'] (known: a, b)" in capsys.readouterr().err
