"""Issue 24 items 2, 3 (also in a whole build), 7, 8 and issue 23 item 7: STAC hrefs confined, timeouts, non-STAC JSON,
common-name assets, non-finite radiometry, geo as a core dependency."""

from __future__ import annotations

import importlib
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib

import mlrsir.inference.encoder as encoder_module
from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.archive import default_bands, parse_radiometry
from mlrsir.geo.hrefs import HrefPolicy
from mlrsir.geo.scene import open_scene, set_href_policy
from tests.fakes.encoder import make_run

from .conftest import write_raster
from .test_index_scenes import PixelHashEncoder, build

ROOT = Path(__file__).resolve().parents[2]


def _item(folder: Path, assets: dict, name="item.json") -> Path:
    item = {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": "hardening/item",
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]},
        "bbox": [0, 0, 1, 1],
        "properties": {"datetime": "2021-06-01T10:20:30Z"},
        "links": [],
        "assets": {
            k: {"href": v, "type": "image/tiff; application=geotiff", "roles": ["data"]} for k, v in assets.items()
        },
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(item))
    return path


def _raster(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_raster(path, np.full((16, 16), value, np.uint16))


@pytest.fixture(autouse=True)
def _default_policy():
    set_href_policy(HrefPolicy())
    yield
    set_href_policy(HrefPolicy())


def test_hrefs_outside_the_item_tree_are_named_and_skipped(tmp_path, capsys):
    _raster(tmp_path / "elsewhere" / "other.tif", 5)
    _raster(tmp_path / "item" / "sub" / "ok.tif", 7)
    other = tmp_path / "elsewhere" / "other.tif"
    path = _item(
        tmp_path / "item",
        {
            "ok": "sub/ok.tif",
            "up": "../../../../etc/passwd.tif",
            "abs": "/etc/passwd.tif",
            "fileurl": "file:///etc/hosts.tif",
            "other": str(other),
        },
    )
    scene = open_scene(path)
    assert scene.band_names == ["ok"]
    err = capsys.readouterr().err
    for key in ("'up'", "'abs'", "'fileurl'", "'other'"):
        assert f"skipped asset {key}" in err
    assert "outside the Item's folder" in err


def test_allow_href_root_admits_another_folder(tmp_path):
    other = _raster(tmp_path / "elsewhere" / "other.tif", 5)
    path = _item(tmp_path / "item", {"other": str(other)})
    with pytest.raises(DataError, match="refused: asset 'other'"):
        open_scene(path)
    set_href_policy(HrefPolicy((tmp_path / "elsewhere",)))
    assert open_scene(path).band_names == ["other"]


def test_remote_hrefs_refused_by_default_and_other_schemes_always(tmp_path):
    path = _item(tmp_path, {"b": "http://127.0.0.1:9/x.tif", "c": "ftp://127.0.0.1/x.tif"})
    with pytest.raises(DataError, match=r"http://127\.0\.0\.1:9/x\.tif.*--allow-remote-hrefs"):
        open_scene(path)
    set_href_policy(HrefPolicy(allow_remote=True))
    with pytest.raises(DataError, match=r"ftp.*not supported"):
        open_scene(_item(tmp_path, {"c": "ftp://127.0.0.1/x.tif"}, "ftp.json"))


@pytest.fixture
def silent_server():
    """A loopback TCP server that accepts connections and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    conns, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield srv.getsockname()[1]
    stop.set()
    thread.join()
    for c in conns:
        c.close()
    srv.close()


def test_remote_href_on_a_silent_server_fails_naming_the_url(tmp_path, silent_server, monkeypatch):
    for key, value in {"GDAL_HTTP_TIMEOUT": "2", "GDAL_HTTP_CONNECTTIMEOUT": "2", "GDAL_HTTP_MAX_RETRY": "0"}.items():
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{silent_server}/x.tif"
    path = _item(tmp_path, {"b": url})
    set_href_policy(HrefPolicy(allow_remote=True))
    start = time.monotonic()
    with pytest.raises(DataError, match=url.replace(".", r"\.")):
        open_scene(path)
    print(f"silent server: failed after {time.monotonic() - start:.1f} s")


@pytest.mark.parametrize("text", ["{}", "[1, 2, 3]", '{"type": "Collection"}', '"x"'])
def test_json_that_is_not_a_stac_item_is_a_data_error(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DataError, match=r"bad\.json: not a STAC Item"):
        open_scene(path)


def test_assets_keyed_by_common_names_map_to_rgb(tmp_path):
    for i, key in enumerate(("blue", "green", "red")):
        _raster(tmp_path / f"{key}.tif", i + 1)
    scene = open_scene(_item(tmp_path, {"blue": "blue.tif", "green": "green.tif", "red": "red.tif"}))
    chosen = scene.select(default_bands(scene))
    assert [b.name for b in chosen] == ["red", "green", "blue"]


@pytest.mark.parametrize("text", ["dn:inf:0:1", "dn:1:0:inf", "dn:1:-inf:1", "dn:nan:0:1", "dn:1:5:1"])
def test_non_finite_or_inverted_radiometry_refused(text):
    with pytest.raises(ConfigError, match="finite"):
        parse_radiometry(text)


def test_geo_packages_are_core_dependencies():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(meta["dependencies"])
    for name in ("rasterio", "pyproj", "pystac", "pyarrow"):
        assert name in core
    with pytest.raises(ImportError):
        importlib.import_module("mlrsir.geo_support")


@pytest.mark.parametrize("text", ["{}", "[1, 2, 3]"])
def test_a_json_that_is_not_stac_is_skipped_and_the_scenes_after_it_indexed(tmp_path, monkeypatch, capsys, text):
    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    data = np.random.default_rng(3).integers(1, 4000, size=(3, 32, 32)).astype(np.uint16)
    good = write_raster(tmp_path / "good.tif", data)
    code = build(make_run(tmp_path / "run"), [bad, good], tmp_path / "ix", "--tile", "16")
    out = capsys.readouterr()
    text_out = out.out + out.err
    assert code == 3, text_out  # some inputs indexed, one failed (the exit rule of docs/commands.md)
    assert "bad.json" in text_out and "not a STAC Item" in text_out and "Traceback" not in text_out
    assert "added 4 tiles" in text_out
