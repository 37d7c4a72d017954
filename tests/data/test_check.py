"""``mlrsir data check`` on fixtures (exit codes, counts) and on the real UCM copy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mlrsir.cli.main import main
from tests.fixtures.make_datasets import make_dlrsd_fixture, make_ucm_fixture, make_whdld_fixture


def _check_json(capsys, *args):
    code = main(["data", "check", *args, "--json"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip().startswith("{") else None)


def test_check_clean_fixture(tmp_path, capsys):
    root = make_ucm_fixture(tmp_path / "u", scenes=3, per_scene=10, size=24)
    code, report = _check_json(capsys, "--dataset", "ucm", "--root", str(root))
    assert code == 0 and report["ok"]
    assert report["num_images"] == 30 and report["num_classes"] == 17
    # oracle from the fixture's rule: scene s has classes 3s, 3s+1 always, 3s+2 in odd images
    expected = np.zeros(17, dtype=int)
    for s in range(3):
        expected[[3 * s, 3 * s + 1]] += 10
        expected[3 * s + 2] += 5
    assert list(report["label_counts"].values()) == expected.tolist()
    assert report["labels_per_image"] == {"min": 2, "max": 3, "mean": 2.5}
    assert report["distinct_label_sets"] == 6
    assert report["images_per_scene"] == {"agricultural": 10, "airplane": 10, "baseballdiamond": 10}
    assert report["info"]["odd_sizes"]  # fixture writes a few odd sizes: info, not errors
    main(["data", "check", "--dataset", "ucm", "--root", str(root)])
    text = capsys.readouterr().out
    assert "images: 30" in text and "problems: 0" in text


def test_check_reports_problems(tmp_path, capsys):
    root = make_ucm_fixture(tmp_path / "u", scenes=2, per_scene=5, size=24)
    (root / "Images" / "airplane" / "airplane01.jpg").unlink()  # row without image
    Image.new("RGB", (24, 24)).save(root / "Images" / "airplane" / "extra.jpg")  # image without row
    (root / "Images" / "airplane" / "airplane02.jpg").write_bytes(b"")  # unreadable
    lines = (root / "LandUse_Multilabeled.txt").read_text().splitlines()
    lines = [("airplane03" + "\t0" * 17) if line.startswith("airplane03") else line for line in lines]
    (root / "LandUse_Multilabeled.txt").write_text("\r\n".join(lines) + "\r\n")
    code, report = _check_json(capsys, "--dataset", "ucm", "--root", str(root))
    assert code == 1 and not report["ok"]
    problems = report["problems"]
    assert problems["rows_without_image"] == ["airplane01"]
    assert problems["images_without_row"] == ["Images/airplane/extra.jpg"]
    assert problems["images_without_labels"] == ["Images/airplane/airplane03.jpg"]
    assert len(problems["unreadable_images"]) == 1 and "airplane02.jpg: empty file" in problems["unreadable_images"][0]
    assert report["num_problems"] == 4


def test_check_unusable_root_exit_2(tmp_path, capsys):
    assert main(["data", "check", "--dataset", "ucm", "--root", str(tmp_path)]) == 2
    assert "no 'Images' folder" in capsys.readouterr().err
    root = make_ucm_fixture(tmp_path / "u", scenes=1, per_scene=2, size=8)
    path = root / "LandUse_Multilabeled.txt"
    path.write_text(path.read_text().replace("\t1", "\t7", 1))
    assert main(["data", "check", "--dataset", "ucm", "--root", str(root)]) == 2
    assert "LandUse_Multilabeled.txt: line 2" in capsys.readouterr().err


def test_check_dlrsd_and_whdld(tmp_path, capsys):
    root = make_dlrsd_fixture(tmp_path / "d", scenes=2, per_scene=3, size=16)
    code, report = _check_json(capsys, "--dataset", "dlrsd", "--root", str(root))
    assert code == 0 and report["num_images"] == 6
    root = make_whdld_fixture(tmp_path / "w", n=5, size=16, encoding="rgb")
    code, report = _check_json(capsys, "--dataset", "whdld", "--root", str(root))
    assert code == 0 and report["num_classes"] == 6 and report["images_per_scene"] is None


README_COUNTS = {
    "airplane": 100,
    "bare_soil": 718,
    "buildings": 691,
    "cars": 886,
    "chaparral": 115,
    "court": 105,
    "dock": 100,
    "field": 103,
    "grass": 975,
    "mobile_home": 102,
    "pavement": 1300,
    "sand": 294,
    "sea": 100,
    "ship": 102,
    "tanks": 100,
    "trees": 1009,
    "water": 203,
}


@pytest.mark.realdata
def test_check_real_ucm(ucm_root, capsys):
    """Numbers from the copy's README.md (2100 images, 17 classes, mean 3.335, 202 sets)."""
    code, report = _check_json(capsys, "--dataset", "ucm", "--root", str(ucm_root))
    assert code == 0 and report["num_problems"] == 0
    assert report["num_images"] == 2100 and report["num_classes"] == 17
    assert report["label_counts"] == README_COUNTS
    assert report["labels_per_image"]["min"] == 1 and report["labels_per_image"]["max"] == 7
    assert round(report["labels_per_image"]["mean"], 3) == 3.335
    assert report["distinct_label_sets"] == 202
    assert len(report["images_per_scene"]) == 21 and set(report["images_per_scene"].values()) == {100}
    assert len(report["info"]["odd_sizes"]) == 44
    assert "Images/buildings/buildings96.jpg 247x247" in report["info"]["odd_sizes"]


@pytest.mark.realdata
def test_real_ucm_scene_split(ucm_root):
    from mlrsir.data.registry import load_dataset
    from mlrsir.data.splits import make_split

    ds = load_dataset("ucm", ucm_root)
    split = make_split(ds, seed=0)
    assert len(split.test) == 630 and len(split.trainval) == 1470 and len(split.val) == 147
