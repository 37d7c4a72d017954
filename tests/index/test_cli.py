"""End-to-end CLI: index build/add/remove/info, search, bench search (fake encoder)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import FakeEncoder, fake_encoder, make_run, quadrant_code, write_image  # noqa: F401

RED, GREEN, BLUE, WHITE, BLACK = (200, 0, 0), (0, 200, 0), (0, 0, 200), (255, 255, 255), (0, 0, 0)


@pytest.fixture
def dataset(tmp_path):
    images = tmp_path / "images"
    write_image(images / "a" / "red1.jpg", [RED] * 4)
    write_image(images / "a" / "red2.PNG", [RED, RED, RED, WHITE], fmt="PNG")
    write_image(images / "b" / "green1.tif", [GREEN] * 4, fmt="TIFF")
    write_image(images / "b" / "blue1.jpeg", [BLUE] * 4, size=(40, 20))
    write_image(images / "mixed.png", [RED, GREEN, BLUE, BLACK])
    (images / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (images / "notes.txt").write_text("not an image")
    labels = tmp_path / "labels.txt"
    labels.write_text(
        "IMAGE\\LABEL\tred\tgreen\tblue\n"
        "red1\t1\t0\t0\nred2\t1\t0\t0\ngreen1\t0\t1\t0\nblue1\t0\t0\t1\nmixed\t1\t1\t1\n"
    )
    run = make_run(tmp_path / "run")
    return tmp_path, images, labels, run


@pytest.mark.parametrize("compact", [True, False])
def test_build_info_search_add_remove(dataset, fake_encoder, capsys, compact):
    tmp, images, labels, run = dataset
    make_run(run, compact=compact)  # both encode_paths row conventions
    ix = tmp / "ix"
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(run),
                "--images",
                str(images),
                "--index",
                str(ix),
                "--labels",
                str(labels),
                "--quiet",
            ]
        )
        == 3  # broken.jpg failed, the rest indexed
    )
    out = capsys.readouterr().out
    assert "added 5 images" in out and "1 failed" in out and "images/s" in out
    assert "broken.jpg" in out  # the bad image is named with its reason
    with CodeIndex.open(ix) as index:
        assert len(index) == 5 and index.bits == 12
        paths = [index.get(i)["path"] for i in index.ids()]
        assert [p.rsplit("/", 1)[1] for p in paths] == ["red1.jpg", "red2.PNG", "blue1.jpeg", "green1.tif", "mixed.png"]
        from PIL import Image

        expected = np.stack([quadrant_code(Image.open(p))[0] for p in paths])
        assert np.array_equal(index.codes(), expected)  # each code belongs to its own path
        blue = index.get(3)
        assert (blue["width"], blue["height"], blue["labels"]) == (40, 20, ["blue"])
        assert index.classes == ["red", "green", "blue"]

    assert main(["index", "info", "--index", str(ix), "--json", "--verify"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == 5 and info["verified"] and info["fingerprint"]["backbone"] == "fake"

    # search: nearest to a red query are the red images; distances match the fake's codes
    query = write_image(tmp / "query.png", [RED] * 4, fmt="PNG")
    assert main(["search", "--index", str(ix), "--query", str(query), "--k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    qcode = quadrant_code(__import__("PIL.Image").Image.open(query))[0]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["path"].endswith("red1.jpg") and rows[0]["distance"] == 0
    assert rows[1]["path"].endswith("red2.PNG") and rows[1]["distance"] == int(
        (quadrant_code(__import__("PIL.Image").Image.open(images / "a" / "red2.PNG"))[0] != qcode).sum()
    )
    assert rows[0]["labels"] == ["red"]
    # label filter and radius
    assert main(["search", "--index", str(ix), "--query", str(query), "--label", "green", "--json"]) == 0
    assert [r["path"].rsplit("/", 1)[1] for r in json.loads(capsys.readouterr().out)] == ["mixed.png", "green1.tif"]
    assert main(["search", "--index", str(ix), "--query", str(query), "--radius", "0", "--json"]) == 0
    assert [r["distance"] for r in json.loads(capsys.readouterr().out)] == [0]
    assert main(["search", "--index", str(ix), "--query", str(query), "--k", "2"]) == 0
    text = capsys.readouterr().out
    assert "rank" in text and "red1.jpg" in text

    # add: a new file plus the whole folder again (already present ones skipped)
    new = write_image(tmp / "extra" / "white.png", [WHITE] * 4, fmt="PNG")
    assert main(["index", "add", "--index", str(ix), "--images", str(new), str(images), "--quiet"]) == 3  # broken.jpg
    out = capsys.readouterr().out
    assert "added 1 images" in out and "5 already present" in out
    # remove by path and by id; removed never returned
    assert main(["index", "remove", "--index", str(ix), "--paths", str(images / "a" / "red1.jpg")]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert main(["index", "remove", "--index", str(ix), "--ids", "2", "77"]) == 0
    assert "removed 1" in capsys.readouterr().out and True
    assert main(["search", "--index", str(ix), "--query", str(query), "--k", "20", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == {3, 4, 5, 6}
    assert main(["index", "info", "--index", str(ix)]) == 0
    assert "4 (3 with labels)" in capsys.readouterr().out


def test_strict_build_stops_on_bad_image(dataset, fake_encoder, capsys):
    tmp, images, labels, run = dataset
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(run),
                "--images",
                str(images),
                "--index",
                str(tmp / "ix"),
                "--strict",
                "--quiet",
            ]
        )
        == 2
    )
    assert "broken.jpg" in capsys.readouterr().err


def test_search_refuses_changed_model(dataset, fake_encoder, capsys):
    tmp, images, labels, run = dataset
    ix = tmp / "ix"
    assert (
        main(["index", "build", "--run", str(run), "--images", str(images / "a"), "--index", str(ix), "--quiet"]) == 0
    )
    make_run(run, weights="retrained")  # the run's model changed after the build
    query = write_image(tmp / "q.png", [RED] * 4, fmt="PNG")
    capsys.readouterr()
    assert main(["search", "--index", str(ix), "--query", str(query)]) == 2
    err = capsys.readouterr().err
    assert "another model" in err and "weights_sha256" in err
    assert main(["index", "add", "--index", str(ix), "--images", str(query)]) == 2
    assert main(["index", "build", "--run", str(run), "--images", str(images), "--index", str(ix)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_aqd_runs_are_refused(dataset, fake_encoder, capsys):
    tmp, images, labels, run = dataset
    make_run(run, retrieval="aqd")
    assert main(["index", "build", "--run", str(run), "--images", str(images), "--index", str(tmp / "ix")]) == 2
    assert "asymmetric quantizer distance" in capsys.readouterr().err


def test_bench_search_random_tiny(tmp_path, capsys):
    out = tmp_path / "bench.md"
    assert (
        main(
            [
                "bench",
                "search",
                "--n",
                "5000",
                "--queries",
                "50",
                "--k",
                "20",
                "--bits",
                "12",
                "48",
                "--float-dim",
                "64",
                "--numpy-budget",
                "0.05",
                "--float-budget",
                "0.05",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert text == out.read_text()
    for needle in (
        "| 12 | faiss |",
        "| 48 | faiss-unpadded |",
        "| 48 | numpy |",
        "hash (b=16, tables=3",
        "float32 flat IP (D=64)",
        "faster than float search",
    ):
        assert needle in text
    table = [
        line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| 12 ") or line.startswith("| 48 ")
    ]
    assert len(table) == 10
    for cells in table:  # exact code back-ends agree with faiss list by list
        if cells[1].strip() in ("faiss", "faiss-unpadded", "numpy"):
            assert cells[-1].strip() == "yes"
    assert (
        main(
            [
                "bench",
                "search",
                "--n",
                "3000",
                "--queries",
                "20",
                "--k",
                "10",
                "--bits",
                "24",
                "--json",
                "--float-dim",
                "16",
                "--numpy-budget",
                "0.05",
                "--float-budget",
                "0.05",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    rows = {r["backend"].split(" ")[0]: r for r in result["rows"]}
    assert rows["faiss"]["bytes_per_image"] == 4 and rows["faiss-unpadded"]["bytes_per_image"] == 3
    assert rows["numpy"]["identical_to_faiss"] is True
    assert 0.0 <= rows["hash"]["recall_at_k"] <= 1.0
    assert rows["float32"]["bytes_per_image"] == 64


def test_bench_search_ucm_source_with_fake_run(dataset, fake_encoder, capsys):
    tmp, images, labels, run = dataset
    (images / "b" / "broken.jpg").unlink()
    assert (
        main(
            [
                "bench",
                "search",
                "--source",
                "ucm",
                "--run",
                str(run),
                "--images",
                str(images),
                "--views",
                "2",
                "--n",
                "400",
                "--queries",
                "10",
                "--k",
                "5",
                "--json",
                "--numpy-budget",
                "0.05",
                "--float-budget",
                "0.05",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert {r["bits"] for r in result["rows"]} == {12}
    assert any("5 real images x 2 augmented views" in note and "M=10" in note for note in result["notes"])


def test_recall_counts_ties_at_threshold():
    from mlrsir.metrics.recall import recall_at_k_of_results

    exact = [[(1, 0), (2, 3), (3, 3)]]
    assert recall_at_k_of_results([[(1, 0), (9, 3), (8, 4)]], exact, k=3) == pytest.approx(2 / 3)
    # other members of the tied groups are right (recall with ties: distances are compared)
    assert recall_at_k_of_results([[(7, 0), (9, 3), (8, 3)]], exact, k=3) == 1.0
