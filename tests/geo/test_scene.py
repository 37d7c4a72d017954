"""Scenes: band names from files, selection by name/index, errors that name the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.bands import band_from_filename, canonical, select_indices
from mlrsir.geo.scene import open_scene
from mlrsir.geo.tiling import SceneTiler

from .conftest import write_raster


@pytest.mark.parametrize(
    "name, band",
    [
        ("s2_B8A.tif", "B8A"),
        ("T18SVG_20160112T160652_B04.jp2", "B04"),
        ("l8_B4.tif", "B4"),
        ("LC08_L1TP_020039_20150804_B10.TIF", "B10"),
        ("LC80200392015216LGN00_BQA.TIF", "BQA"),
        ("x_b8a.tif", "B8A"),
        ("preview.jp2", None),
        ("B04.tif", "B04"),
    ],
)
def test_band_from_filename(name, band):
    assert band_from_filename(name) == band


def test_canonical_ignores_zero_padding_and_case():
    assert canonical("b04") == canonical("B4") == "B4"
    assert canonical("B8A") != canonical("B8")


def test_folder_scene_bands_sorted_and_selection(fake_s2):
    scene = open_scene(fake_s2)
    assert scene.band_names == ["B02", "B03", "B04", "B05", "B8A"]
    assert scene.datetime == "2020-03-15T10:10:21Z"
    assert [b.name for b in scene.select("B04,B03,B02")] == ["B04", "B03", "B02"]
    assert [b.name for b in scene.select("b4, 1")] == ["B04", "B02"]  # zero padding / case / index
    assert [b.name for b in scene.select(["B8A", 4])] == ["B8A", "B05"]


def test_unknown_band_names_the_scene_and_lists_bands(fake_s2):
    with pytest.raises(DataError) as err:
        open_scene(fake_s2).select("B04,B09")
    msg = str(err.value)
    assert str(fake_s2) in msg and "'B09'" in msg and "1=B02" in msg and "5=B8A" in msg
    with pytest.raises(DataError, match="out of range 1..5"):
        open_scene(fake_s2).select("7")


def test_multiband_raster_names_from_descriptions(tmp_path):
    data = np.arange(3 * 20 * 30, dtype=np.uint16).reshape(3, 20, 30)
    path = write_raster(tmp_path / "rgb.tif", data, descriptions=["red", "green", "blue"])
    scene = open_scene(path)
    assert scene.band_names == ["red", "green", "blue"] and scene.kind == "raster"
    assert [b.index for b in scene.select("blue,1")] == [3, 1]
    with pytest.raises(DataError, match=r"rgb\.tif.*'nir'.*1=red, 2=green, 3=blue"):
        scene.select("nir")


def test_multiband_without_descriptions_uses_indices(tmp_path):
    path = write_raster(tmp_path / "x.tif", np.ones((4, 10, 10), np.uint16))
    assert open_scene(path).band_names == ["1", "2", "3", "4"]


def test_bands_with_different_crs(tmp_path):
    folder = tmp_path / "scene"
    folder.mkdir()
    write_raster(folder / "a_B02.tif", np.ones((10, 10), np.uint16), crs="EPSG:32618")
    write_raster(folder / "a_B03.tif", np.ones((10, 10), np.uint16), crs="EPSG:32617")
    scene = open_scene(folder)
    with pytest.raises(DataError, match=r"different CRSs.*a_B02\.tif.*EPSG:32618.*a_B03\.tif.*EPSG:32617"):
        scene.select(None)
    assert len(scene.select("B02")) == 1


def test_truncated_geotiff_names_file(tmp_path):
    path = write_raster(tmp_path / "t_B02.tif", np.random.default_rng(0).integers(0, 9999, (300, 300), dtype=np.uint16))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"t_B02\.tif.*(truncated|corrupt)"):
        open_scene(path)


def test_garbage_file_names_file(tmp_path):
    path = tmp_path / "bad_B02.tif"
    path.write_bytes(b"II*\x00 not a tiff at all" * 10)
    with pytest.raises(DataError, match=r"bad_B02\.tif.*not a readable raster"):
        open_scene(path)


def test_folder_without_band_files(tmp_path):
    with pytest.raises(DataError, match="no band files"):
        open_scene(tmp_path)


def test_duplicate_band_files(tmp_path):
    write_raster(tmp_path / "a_B04.tif", np.ones((5, 5), np.uint16))
    write_raster(tmp_path / "b_B4.tif", np.ones((5, 5), np.uint16))
    with pytest.raises(DataError, match="two files for band"):
        open_scene(tmp_path)


def test_tile_larger_than_scene(fake_s2):
    with pytest.raises(ConfigError, match="larger than the scene"):
        SceneTiler(open_scene(fake_s2), "B04", tile=128)


def test_raster_without_georeference_has_no_geo(tmp_path):
    path = write_raster(tmp_path / "plain.tif", np.full((2, 64, 64), 7, np.uint8), crs=None)
    scene = open_scene(path)
    assert scene.bands[0].crs is None
    tiles = list(SceneTiler(scene, None, tile=32))
    assert len(tiles) == 4 and all(info.geo is None for info, _ in tiles)
    assert tiles[0][1].dtype == np.uint8 and (tiles[0][1] == 7).all()


def _stac_item(tmp_path, assets: dict, datetime="2021-06-01T10:20:30Z") -> str:
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "S2B_fake_item",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": datetime},
        "links": [],
        "assets": assets,
    }
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item))
    return path


def test_stac_item_bands_from_eo_bands(tmp_path):
    rng = np.random.default_rng(1)
    write_raster(tmp_path / "red.tif", rng.integers(1, 9, (40, 40), dtype=np.uint16))
    write_raster(
        tmp_path / "nir.tif", rng.integers(1, 9, (20, 20), dtype=np.uint16), Affine(20, 0, 500000, 0, -20, 4000000)
    )
    path = _stac_item(
        tmp_path,
        {
            "red": {
                "href": "./red.tif",
                "type": "image/tiff; application=geotiff",
                "roles": ["data"],
                "eo:bands": [{"name": "B04", "common_name": "red"}],
            },
            "nir08": {"href": "nir.tif", "type": "image/tiff; application=geotiff", "roles": ["data"]},
            "thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"]},
        },
    )
    scene = open_scene(path)
    assert scene.kind == "stac" and scene.scene_id == "S2B_fake_item"
    assert scene.band_names == ["B04", "nir08"]
    assert scene.datetime == "2021-06-01T10:20:30Z"
    assert [b.name for b in scene.select("red,nir08,B04")] == ["B04", "nir08", "B04"]
    tiles = list(SceneTiler(scene, "B04,nir08", tile=20))
    assert len(tiles) == 4 and tiles[0][0].geo["datetime"] == "2021-06-01T10:20:30Z"


def test_stac_item_missing_band_file(tmp_path):
    path = _stac_item(tmp_path, {"B02": {"href": "gone_B02.tif", "type": "image/tiff", "roles": ["data"]}})
    with pytest.raises(DataError, match=r"item\.json.*'B02'.*gone_B02\.tif"):
        open_scene(path)


def test_select_indices_ambiguous():
    with pytest.raises(DataError, match="several bands match"):
        select_indices(["B4", "B04"], "B4", "x")
