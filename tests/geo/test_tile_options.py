"""Tile options are refused by what the user gave, never with Python's ``None`` (issue 24
item 14): ``--tile 0`` without ``--stride`` says ``--tile 0``, not ``--stride None``."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.geo.scene import open_scene
from mlrsir.geo.tile_check import check_tile_stride
from mlrsir.geo.tiling import SceneTiler
from tests.fakes.encoder import fake_encoder, make_run  # noqa: F401

from .conftest import write_raster


@pytest.mark.parametrize(
    ("tile", "stride", "message"),
    [
        (0, None, "--tile 0: must be >= 1 (pixels)"),
        (-5, None, "--tile -5: must be >= 1 (pixels)"),
        (32, 0, "--stride 0: must be >= 1 (pixels)"),
        (0, -2, "--tile 0, --stride -2: must be >= 1 (pixels)"),
    ],
)
def test_message_names_what_was_given(tile, stride, message):
    with pytest.raises(ConfigError) as info:
        check_tile_stride(tile, stride)
    assert str(info.value) == message


def test_good_values_pass():
    check_tile_stride(1, None)
    check_tile_stride(256, 1)


def test_scene_tiler_uses_keyword_names(tmp_path):
    scene = open_scene(write_raster(tmp_path / "s.tif", np.full((3, 64, 64), 900, np.uint16)))
    with pytest.raises(ConfigError, match=r"^tile=0: must be >= 1 \(pixels\)$"):
        SceneTiler(scene, None, tile=0)


def test_index_build_tile_0(tmp_path, fake_encoder, capsys):
    path = write_raster(tmp_path / "s.tif", np.full((3, 64, 64), 900, np.uint16))
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(path), "--index", str(tmp_path / "ix")]
    assert main([*argv, "--quiet", "--tile", "0"]) == 2
    err = capsys.readouterr().err
    assert "--tile 0: must be >= 1" in err and "None" not in err


def test_train_images_tile_0(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    write_raster(tmp_path / "in" / "s.tif", np.full((3, 64, 64), 900, np.uint16))
    argv = ["train", "--supervision", "none", "--images", str(tmp_path / "in"), "--out", str(tmp_path / "run")]
    assert main([*argv, "--tile", "0", "--weights", "none", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--tile 0: must be >= 1" in err and "None" not in err
    assert not (tmp_path / "run").exists()
