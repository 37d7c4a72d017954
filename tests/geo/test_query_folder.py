"""``search --query FOLDER`` is refused as a folder, naming it (issue 24 item 21), on an
image index and on a scene index; a folder of band files stays a scene query."""

from __future__ import annotations

from mlrsir.cli.main import main
from tests.fakes.encoder import fake_encoder, make_run, write_image  # noqa: F401


def _message(folder) -> str:
    return (
        f"mlrsir: error: {folder}: is a folder: give an image file, a raster (or a folder of band files), "
        "or FILE#col,row,w,h\n"
    )


def test_folder_query_on_an_image_index(tmp_path, fake_encoder, capsys):
    folder = tmp_path / "photos"
    write_image(folder / "a.jpg", [(200, 10, 10)] * 4)
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(folder), "--index", str(tmp_path / "ix"), "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err == _message(folder) and "radiometry" not in err


def test_folder_query_on_a_scene_index(tmp_path, fake_s2, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(fake_s2), "--index", str(tmp_path / "ix")]
    assert main([*argv, "--quiet", "--tile", "32"]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(empty)]) == 2
    assert capsys.readouterr().err == _message(empty)
    # the band folder itself is a scene: searched whole
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", str(fake_s2), "--k", "1", "--json"]) == 0
