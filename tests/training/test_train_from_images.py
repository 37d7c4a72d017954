"""Issue 25 item 2: ``mlrsir train --supervision none --images PATH...`` trains on what
``index build --images`` takes (a plain image folder without a label file, raster scenes tiled
as indexing tiles them), never opens a label file, and the run then indexes and searches like
any run; with no labels, label search says so (item 6)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.run.config import TrainConfig, resolve_config
from mlrsir.training.trainer import Trainer, train

from ..geo.conftest import write_raster


def _write_folder(folder, n=10, size=40, seed=0):
    """``n`` PNG images of noise plus a stripe whose orientation depends on the image, no label file."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        array = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        array[:, (i % 4) * 8 : (i % 4) * 8 + 6, i % 3] = 250
        Image.fromarray(array).save(folder / f"chip{i:02d}.png")
    return folder


def _config(images, **overrides):
    values = dict(
        images=[str(p) for p in images],
        supervision="none",
        weights="none",
        image_size=32,
        bits=16,
        batch_size=4,
        iterations=2,
        finetune="none",
        lr=1e-2,
    )
    values.update(overrides)
    return resolve_config("default", **values)


@pytest.fixture
def no_label_reads(monkeypatch):
    """Every label reader raises: a label file opened anywhere fails the test."""

    def refuse(*_a, **_kw):
        raise AssertionError("a label file was read")

    import mlrsir.data.labels
    import mlrsir.sources

    monkeypatch.setattr(mlrsir.data.labels, "read_label_file", refuse)
    monkeypatch.setattr(mlrsir.sources, "read_labels", refuse)


def test_training_from_a_folder_without_labels_never_reads_a_label_file(tmp_path, monkeypatch, no_label_reads):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    folder = _write_folder(tmp_path / "chips")
    messages: list[str] = []
    metrics = train(_config([folder]), tmp_path / "run", progress=False, log=messages.append)
    assert metrics["map"] is None and any("no labels" in m for m in messages)
    run = tmp_path / "run"
    split = json.loads((run / "split.json").read_text())
    expected = sorted(str(p.resolve()) for p in folder.glob("*.png"))
    assert split["names"] == expected and split["train"] == list(range(10)) and split["test"] == []
    config = json.loads((run / "config.json").read_text())
    assert config["images"] == [str(folder.resolve())] and config["supervision"] == "none"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["label_scorer"] is None and "--supervision none" in meta["label_scorer_reason"]
    assert meta["classes"] == [] and meta["git"]["revision"]  # saved beside the run as for any run
    assert TrainConfig.load(run / "config.json") == _config([folder])  # the stored config reloads as the same


def test_scene_tiles_train_as_index_build_tiles_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    data = np.random.default_rng(2).integers(1, 255, size=(3, 64, 96), dtype=np.uint8)
    data[:, :32, :32] = 0  # one empty tile: skipped by both
    raster = write_raster(tmp_path / "scene.tif", data)
    config = _config([raster], tile=32)
    trainer = Trainer(config, tmp_path / "run", progress=False)
    names = list(trainer.data.dataset.relative_paths)
    assert len(names) == 5 and all(n.startswith(str(raster.resolve()) + "#") for n in names)
    # uint8 scene: the tile's pixels are the training image (32 px tile at image_size 32)
    first = names.index(f"{raster.resolve()}#32,0,32,32")
    np.testing.assert_array_equal(trainer.data.images[first], data[:, :32, 32:64])
    trainer.fit()
    trainer.save_final({"map": None})
    code = main(
        ["index", "build", "--run", str(tmp_path / "run"), "--images", str(raster), "--index", str(tmp_path / "ix")]
        + ["--tile", "32", "--quiet"]
    )
    assert code == 0
    from mlrsir.index.store import CodeIndex

    with CodeIndex.open(tmp_path / "ix", readonly=True) as index:
        stored = sorted(index.get(int(i))["path"] for i in index.ids())
    assert stored == sorted(names)


def test_images_options_are_checked(capsys):
    with pytest.raises(ConfigError, match="needs --supervision none"):
        _config(["x"], supervision="full")
    with pytest.raises(ConfigError, match="--tile"):
        _config(["x"], tile=0)
    assert main(["train", "--root", "x", "--tile", "64", "--out", "r"]) == 2
    assert "needs --images" in capsys.readouterr().err


def test_cli_train_none_then_index_build_then_search(tmp_path, monkeypatch, capsys, no_label_reads):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    folder = _write_folder(tmp_path / "chips", n=12)
    run, ix = tmp_path / "run", tmp_path / "ix"
    args = ["train", "--supervision", "none", "--images", str(folder), "--out", str(run), "--weights", "none"]
    args += ["--image-size", "32", "--bits", "16", "--batch-size", "4", "--iterations", "3", "--finetune", "none"]
    assert main(args + ["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "trained without labels" in out and "index build --run" in out
    assert main(["index", "build", "--run", str(run), "--images", str(folder), "--index", str(ix), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "added 12 images" in out and "no predicted labels stored" in out and "--supervision none" in out
    query = sorted(folder.glob("*.png"))[3]
    assert main(["search", "--index", str(ix), "--query", str(query), "--k", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and rows[0]["distance"] == 0  # the query itself is indexed: distance 0
    assert str(query.resolve()) in [r["path"] for r in rows if r["distance"] == 0]
    # label search on this index: a plain error naming how to get labels, never an empty list
    assert main(["search", "--index", str(ix), "--labels", "ship"]) == 2
    err = capsys.readouterr().err
    assert "label search needs labels" in err and "--labels FILE" in err and "--supervision none" in err
    assert main(["search", "--index", str(ix), "--query", str(query), "--label", "ship"]) == 2
    assert "label search needs labels" in capsys.readouterr().err
    assert main(["labels", "predict", "--index", str(ix)]) == 2
    assert "no labels to fit a label scorer" in capsys.readouterr().err
