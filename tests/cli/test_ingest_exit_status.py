"""One exit status for ``mlrsir index build|add`` (:mod:`mlrsir.cli.exit_status`): 0 every
input indexed, 3 some indexed and some failed (named), 2 nothing indexed; images and
scenes alike; ``--strict`` fatal."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.cli.exit_status import EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, ingest_exit_status
from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import fake_encoder, make_run, write_image  # noqa: F401
from tests.geo.conftest import write_raster


def build(tmp_path, *inputs, extra=()) -> int:
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", *map(str, inputs), "--index", str(tmp_path / "ix")]
    return main([*argv, "--quiet", "--tile", "32", *extra])


def add(tmp_path, *inputs, extra=()) -> int:
    argv = ["index", "add", "--index", str(tmp_path / "ix"), "--images", *map(str, inputs)]
    return main([*argv, "--quiet", "--tile", "32", *extra])


@pytest.fixture
def inputs(tmp_path):
    """good.jpg, bad.jpg (text), scene.tif (64 x 64, 4 tiles of 32), small.tif (16 x 16: smaller than a tile)."""
    d = tmp_path / "in"
    write_image(d / "good.jpg", [(200, 10, 10)] * 4)
    (d / "bad.jpg").write_text("not a JPEG\n")
    write_raster(d / "scene.tif", np.full((3, 64, 64), 900, np.uint16))
    write_raster(d / "small.tif", np.full((3, 16, 16), 900, np.uint16))
    return d


def test_rule_table():
    assert ingest_exit_status(5, 0) == EXIT_OK == 0
    assert ingest_exit_status(0, 0) == EXIT_OK
    assert ingest_exit_status(1, 1) == EXIT_PARTIAL == 3
    assert ingest_exit_status(0, 2) == EXIT_FAILED == 2


def test_one_bad_image_among_good_ones_is_3_and_named(tmp_path, inputs, fake_encoder, capsys):
    assert build(tmp_path, inputs / "good.jpg", inputs / "bad.jpg") == 3
    out = capsys.readouterr().out
    assert "1 input(s) could not be indexed (the others are indexed; exit status 3):" in out
    assert f"  {(inputs / 'bad.jpg').resolve()}" in out.splitlines()
    with CodeIndex.open(tmp_path / "ix") as index:
        assert len(index) == 1


def test_only_bad_images_is_2(tmp_path, inputs, fake_encoder, capsys):
    assert build(tmp_path, inputs / "bad.jpg") == 2
    assert "(nothing indexed; exit status 2)" in capsys.readouterr().out


def test_everything_indexed_is_0(tmp_path, inputs, fake_encoder, capsys):
    assert build(tmp_path, inputs / "good.jpg", inputs / "scene.tif") == 0
    out = capsys.readouterr().out
    assert "could not be indexed" not in out and "added 4 tiles of 1 scene(s)" in out


def test_folder_with_one_failed_scene_is_3(tmp_path, inputs, fake_encoder, capsys):
    (inputs / "bad.jpg").unlink()
    (inputs / "good.jpg").unlink()
    assert build(tmp_path, inputs) == 3  # scene.tif indexed, small.tif failed
    out = capsys.readouterr().out
    assert "1 scene(s) failed" in out and f"  {(inputs / 'small.tif').resolve()}" in out.splitlines()


def test_one_bad_scene_alone_is_2(tmp_path, inputs, fake_encoder):
    assert build(tmp_path, inputs / "small.tif") == 2


def test_images_and_scenes_mixed(tmp_path, inputs, fake_encoder, capsys):
    assert build(tmp_path, inputs) == 3  # good.jpg + 4 tiles in; bad.jpg and small.tif out
    out = capsys.readouterr().out
    assert "2 input(s) could not be indexed (the others are indexed; exit status 3):" in out
    # again: everything good is already present, the bad ones still fail -> 3, not 2
    assert add(tmp_path, inputs) == 3
    # only what is present: 0
    assert add(tmp_path, inputs / "good.jpg", inputs / "scene.tif") == 0
    # a bad scene given alone to add: nothing done
    assert add(tmp_path, inputs / "small.tif") == 2


def test_strict_stays_fatal(tmp_path, inputs, fake_encoder, capsys):
    assert build(tmp_path, inputs / "good.jpg", inputs / "bad.jpg", extra=["--strict"]) == 2
    assert capsys.readouterr().err.startswith("mlrsir: error: ")


def test_help_documents_the_rule(capsys):
    for action in ("build", "add"):
        with pytest.raises(SystemExit):
            main(["index", action, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "exit status: 0 every input indexed" in out and "3 some inputs indexed" in out
