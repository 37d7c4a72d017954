"""A dangling symbolic link is named by the link the user gave and said to be one, with
its target (issue 24 item 21): in ``index build|add`` (in a folder and given directly),
in ``search --query`` and when a scene or raster is opened."""

from __future__ import annotations

import os

import pytest

from mlrsir.cli.main import main
from mlrsir.errors import DataError
from mlrsir.geo.raster import open_raster
from mlrsir.geo.scene import open_scene
from mlrsir.paths import broken_link_target, not_found_message
from tests.fakes.encoder import fake_encoder, make_run, write_image  # noqa: F401


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "good.jpg", [(200, 10, 10)] * 4)
    os.symlink(tmp_path / "gone" / "target.jpg", folder / "link.jpg")
    os.symlink("missing.tif", folder / "band.tif")  # relative target, as stored in the link
    return folder


def test_helpers(tmp_path):
    os.symlink("nowhere.png", tmp_path / "q.png")
    (tmp_path / "real.png").write_bytes(b"x")
    os.symlink("real.png", tmp_path / "ok.png")
    assert broken_link_target(tmp_path / "q.png") == "nowhere.png"
    assert broken_link_target(tmp_path / "ok.png") is None and broken_link_target(tmp_path / "absent") is None
    assert not_found_message(tmp_path / "q.png") == (
        f"{tmp_path / 'q.png'}: broken symbolic link to nowhere.png (the target does not exist)"
    )
    assert not_found_message(tmp_path / "absent") == f"{tmp_path / 'absent'}: file not found"


def test_build_names_the_link_in_a_folder(tmp_path, images, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(images), "--index", str(tmp_path / "ix"), "--quiet"]
    assert main(argv) == 3  # good.jpg indexed, the two links failed
    out = capsys.readouterr().out
    link, band = images.resolve() / "link.jpg", images.resolve() / "band.tif"
    assert (
        f"skipped {link}: broken symbolic link to {tmp_path / 'gone' / 'target.jpg'} (the target does not exist)"
        in out.splitlines()
    )
    assert f"skipped {band}: broken symbolic link to missing.tif (the target does not exist)" in out.splitlines()
    assert not any(line.startswith(f"skipped {tmp_path / 'gone'}") for line in out.splitlines()), out


def test_build_names_a_link_given_directly(tmp_path, images, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    link = images / "link.jpg"
    argv = ["index", "build", "--run", str(run), "--images", str(link), "--index", str(tmp_path / "ix"), "--quiet"]
    assert main(argv) == 2
    target = tmp_path / "gone" / "target.jpg"
    assert capsys.readouterr().err == (
        f"mlrsir: error: {link}: broken symbolic link to {target} (the target does not exist)\n"
    )


def test_search_query_names_the_link(tmp_path, images, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(images / "good.jpg"), "--index", str(tmp_path / "ix")]
    assert main([*argv, "--quiet"]) == 0
    capsys.readouterr()
    os.symlink("deleted.png", tmp_path / "q.png")
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(tmp_path / "q.png")]) == 2
    assert capsys.readouterr().err == (
        f"mlrsir: error: {tmp_path / 'q.png'}: broken symbolic link to deleted.png (the target does not exist)\n"
    )


def test_scene_and_raster_opening_name_the_link(images):
    for opener in (open_scene, open_raster):
        with pytest.raises(DataError, match=r"band\.tif: broken symbolic link to missing\.tif"):
            opener(images / "band.tif")
