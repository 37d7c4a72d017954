"""Scenes in the code index: build/add with tiles, geo in search rows, --at, --bbox, GeoJSON,
export, the format 1 -> 2 migration, and bad input.

The encoder is :class:`PixelHashEncoder`: a code is 32 bits of the sha256 of the encoded
RGB pixels, so a tile searched by its own pixels is found at distance 0 and (codes of
different tiles differ) ranks first.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import rasterio
import rasterio.windows
from affine import Affine
from rasterio.windows import Window

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.index.store import CodeIndex
from mlrsir.inference.search import GEO_KEYS, item_at, load_query_image, search_by_image, search_code
from tests.fakes.encoder import FakeEncoder, make_run

from .conftest import write_raster

BITS = 32


class PixelHashEncoder(FakeEncoder):
    """Deterministic 32-bit code: bits of sha256(RGB pixels)."""

    def __init__(self, run_dir=None, classes=None, attention_fails=False):
        super().__init__(run_dir, classes, attention_fails)
        self.bits = BITS
        self.fingerprint = {**self.fingerprint, "bits": BITS, "backbone": "pixel-hash"}

    def _code(self, image):
        digest = hashlib.sha256(np.asarray(image.convert("RGB")).tobytes()).digest()
        bits = np.unpackbits(np.frombuffer(digest[:4], np.uint8))
        return bits.astype(np.uint8), bits.astype(np.float32) - 0.5


@pytest.fixture
def hash_encoder(monkeypatch, tmp_path):
    import mlrsir.inference.encoder as encoder_module

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    return make_run(tmp_path / "run")


def build(run, images, index, *extra) -> int:
    args = ["index", "build", "--run", str(run), "--images", *map(str, images), "--index", str(index), "--quiet"]
    return main([*args, *map(str, extra)])


def encode(index, query):
    return search_by_image(index, PixelHashEncoder(), load_query_image(index, query), k=1)


def _is_ccw(ring) -> bool:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:])) > 0


# ---------------------------------------------------------------------------- real Sentinel-2 scene
@pytest.fixture(scope="module")
def s2_index(tmp_path_factory, s2_dir):
    """The real S2 scene indexed with --tile 256 (64 tiles), PixelHashEncoder."""
    mp = pytest.MonkeyPatch()
    import mlrsir.inference.encoder as encoder_module

    mp.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    root = tmp_path_factory.mktemp("s2")
    run = make_run(root / "run")
    assert build(run, [s2_dir], root / "ix", "--tile", "256") == 0
    yield root / "ix"
    mp.undo()


def test_s2_every_tile_found_by_its_own_pixels(s2_index, s2_dir, capsys):
    with CodeIndex.open(s2_index) as index:
        assert len(index) == 64
        assert index.radiometry == {"kind": "reflectance", "scale": 10000.0, "low": 0.0, "high": 0.3}
        with rasterio.open(s2_dir / "bands" / "s2_B04.tif") as ds:
            transform = ds.transform
        for item_id in index.ids():
            record = index.get(int(item_id))
            geo = record["geo"]
            c, r, w, h = geo["window"]
            assert record["path"].endswith(f"#{c},{r},{w},{h}") and (w, h) == (256, 256)
            assert geo["bounds"] == list(rasterio.windows.bounds(Window(c, r, w, h), transform))
            assert geo["crs"] == "EPSG:32618" and geo["datetime"] == "2016-01-12"
            assert geo["bands"] == ["B04", "B03", "B02"]
            rows = encode(index, record["path"])
            assert rows[0]["id"] == item_id and rows[0]["distance"] == 0
            assert set(rows[0]["geo"]) == set(GEO_KEYS)


def test_s2_at_returns_the_tile_containing_the_point(s2_index, capsys):
    from pyproj import Transformer

    to_ll = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    with CodeIndex.open(s2_index, readonly=True) as index:
        for item_id in (1, 20, 64):
            x0, y0, x1, y1 = index.get(item_id)["geo"]["bounds"]
            lon, lat = to_ll.transform(x0 + 0.3 * (x1 - x0), y0 + 0.6 * (y1 - y0))
            assert item_at(index, lon, lat) == item_id
        with pytest.raises(ConfigError, match="no indexed tile contains"):
            item_at(index, 10.0, 50.0)
        x0, y0, x1, y1 = index.get(20)["geo"]["bounds"]
        lon, lat = to_ll.transform((x0 + x1) / 2, (y0 + y1) / 2)
    out = s2_index.parent / "hits.geojson"
    capsys.readouterr()
    assert (
        main(["search", "--index", str(s2_index), f"--at={lon},{lat}", "--k", "5", "--json", "--geojson", str(out)])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["id"] == 20 and rows[0]["distance"] == 0 and rows[0]["geo"]["crs"] == "EPSG:32618"
    fc = json.loads(out.read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 5
    for feature in fc["features"]:
        assert feature["geometry"]["type"] == "Polygon"
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) == 5 and _is_ccw(ring)
        assert all(-76 < lon_ < -75 and 37 < lat_ < 38 for lon_, lat_ in ring)  # lon, lat order
        assert set(feature["properties"]) >= {"rank", "distance", "path", "labels"}


def test_s2_bbox_and_export(s2_index, tmp_path, capsys):
    geopandas = pytest.importorskip("geopandas")
    with CodeIndex.open(s2_index, readonly=True) as index:
        geo = index.get(10)["geo"]
        box = geo["lonlat_bounds"]
        inner = [box[0] + 1e-3, box[1] + 1e-3, box[2] - 1e-3, box[3] - 1e-3]
        rows = search_code(index, index.codes([10]), k=64, bbox=inner)
        assert 10 in {r["id"] for r in rows} and len(rows) <= 9  # the tile and its neighbours
        for r in rows:
            b = r["geo"]["lonlat_bounds"]
            assert not (b[2] < inner[0] or inner[2] < b[0] or b[3] < inner[1] or inner[3] < b[1])
        codes = index.codes()
    assert main(["index", "export", "--index", str(s2_index), "--out", str(tmp_path / "items.parquet")]) == 0
    df = geopandas.read_parquet(tmp_path / "items.parquet")
    assert len(df) == 64 and df.crs.to_epsg() in (4326, None) and df.geometry.is_valid.all()
    assert df.crs.equals("OGC:CRS84") or df.crs.to_epsg() == 4326
    first = df.iloc[0]
    assert first["scene"] == "sentinel2-l1c-T18SVG-20160112" and len(first["code"]) == BITS // 8
    assert main(["index", "export", "--index", str(s2_index), "--out", str(tmp_path / "items.npz")]) == 0
    npz = np.load(tmp_path / "items.npz")
    assert npz["codes"].dtype == np.uint8 and npz["codes"].shape == (64, BITS)
    assert np.array_equal(npz["codes"], codes) and len(npz["paths"]) == 64


# ---------------------------------------------------------------------------- fake rasters
def _s2_folder(root, name="S2A_MSIL1C_20200315T101021_fake", crs_b03="EPSG:32618", bands=("B02", "B03", "B04")):
    folder = root / name
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for band in bands:
        write_raster(
            folder / f"T31_{band}.tif",
            rng.integers(1, 3000, (80, 100), dtype=np.uint16),
            Affine(10, 0, 500000, 0, -10, 4000000),
            crs=crs_b03 if band == "B03" else "EPSG:32618",
        )
    return folder


def test_fake_scene_tiles_and_plain_images_together(hash_encoder, tmp_path, capsys):
    from tests.fakes.encoder import write_image

    folder = _s2_folder(tmp_path / "in")
    write_image(tmp_path / "in" / "chips" / "a.png", [(200, 0, 0)] * 4)
    assert build(hash_encoder, [tmp_path / "in"], tmp_path / "ix", "--tile", "32") == 0
    out = capsys.readouterr().out
    assert "added 12 tiles of 1 scene(s)" in out and "added 1 images" in out
    with CodeIndex.open(tmp_path / "ix") as index:
        assert len(index) == 13
        rows = encode(index, f"{folder.resolve()}#68,48,32,32")
        assert rows[0]["path"].endswith("#68,48,32,32") and rows[0]["distance"] == 0
        chip = index.ids_for_paths([str((tmp_path / "in" / "chips" / "a.png").resolve())])
        assert "geo" not in index.get(next(iter(chip.values())))
    # adding again: every tile already present, nothing duplicated
    assert main(["index", "add", "--index", str(tmp_path / "ix"), "--images", str(folder), "--tile", "32"]) == 0
    assert "12 already present" in capsys.readouterr().out


def test_not_georeferenced_raster_is_indexed_with_null_geo(hash_encoder, tmp_path, capsys):
    path = write_raster(tmp_path / "plain.tif", np.full((3, 64, 64), 900, np.uint16), crs=None)
    assert build(hash_encoder, [path], tmp_path / "ix", "--tile", "32") == 0
    assert "4 tiles without georeference" in capsys.readouterr().out
    with CodeIndex.open(tmp_path / "ix") as index:
        rows = encode(index, f"{path.resolve()}#32,0,32,32")
        assert rows[0]["distance"] == 0 and rows[0]["geo"] is None
        assert index.get(1)["geo"]["crs"] is None
        with pytest.raises(ConfigError):
            item_at(index, 0.0, 0.0)


def test_empty_tiles_are_skipped_and_counted(hash_encoder, tmp_path, capsys):
    data = np.zeros((3, 64, 64), np.uint16)
    data[:, :32, :32] = 500
    path = write_raster(tmp_path / "half.tif", data)
    assert build(hash_encoder, [path], tmp_path / "ix", "--tile", "32") == 0
    out = capsys.readouterr().out
    assert "added 1 tiles of 1 scene(s)" in out and "3 empty tiles skipped" in out
    with CodeIndex.open(tmp_path / "ix") as index:
        assert len(index) == 1


def test_bad_scenes_are_reported_and_the_rest_indexed(hash_encoder, tmp_path, capsys):
    good = _s2_folder(tmp_path / "in", "good_scene")
    missing = _s2_folder(tmp_path / "in", "missing_scene", bands=("B02", "B04"))
    _s2_folder(tmp_path / "in", "mixed_crs_scene", crs_b03="EPSG:32617")
    small = _s2_folder(tmp_path / "in", "good_small")
    truncated = write_raster(tmp_path / "in" / "zz_trunc.tif", np.full((3, 300, 300), 700, np.uint16), tiled=False)
    blob = truncated.read_bytes()
    truncated.write_bytes(blob[: len(blob) // 2])
    assert build(hash_encoder, [tmp_path / "in"], tmp_path / "ix", "--tile", "32") == 3  # some failed
    out = capsys.readouterr().out
    assert f"skipped {missing.resolve()}" in out and "B3 missing" in out
    assert "bands with different CRSs" in out and "mixed_crs_scene" in out
    assert "zz_trunc.tif" in out and "truncated or corrupt" in out
    assert "3 scene(s) failed" in out
    with CodeIndex.open(tmp_path / "ix") as index:
        assert len(index) == 24  # good + good_small
        stored = index.info()["items_checksum"]
    # a tile larger than the scene: named, nothing stored lost
    assert main(["index", "add", "--index", str(tmp_path / "ix"), "--images", str(good), "--tile", "90"]) == 2
    out = capsys.readouterr().out
    assert f"skipped {good.resolve()}: tile 90 px is larger than the scene" in out
    with CodeIndex.open(tmp_path / "ix") as index:
        assert len(index) == 24 and index.info()["items_checksum"] == stored
    assert small.exists()


def test_radiometry_is_fixed_per_index(hash_encoder, tmp_path, capsys):
    folder = _s2_folder(tmp_path / "in")
    assert build(hash_encoder, [folder], tmp_path / "ix", "--tile", "32", "--radiometry", "dn:1:0:4000") == 0
    with CodeIndex.open(tmp_path / "ix") as index:
        assert index.radiometry == {"kind": "dn", "scale": 1.0, "low": 0.0, "high": 4000.0}
    code = main(["index", "add", "--index", str(tmp_path / "ix"), "--images", str(folder), "--radiometry", "sentinel2"])
    assert code == 2 and "fixed per index" in capsys.readouterr().err


def test_format_1_index_opens_and_migrates(tmp_path):
    from tests.index.legacy import make_legacy_index

    fp = {"bits": 16, "backbone": "x", "method": "m", "image_size": 8, "weights_sha256": "0"}
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, (3, 16), dtype=np.uint8)
    # a format 1 index as an older mlrsir wrote it (codes as BLOBs, no geo column)
    records = [{"path": f"/p{i}.png", "width": 4, "height": 4, "labels": None} for i in range(3)]
    make_legacy_index(tmp_path / "ix", version=1, bits=16, records=records, codes=codes, fingerprint=fp, run_dir="/r")
    with CodeIndex.open(tmp_path / "ix", readonly=True) as old:
        assert old.format_version == 1 and old.get(2) == {
            "id": 2,
            "path": "/p1.png",
            "width": 4,
            "height": 4,
            "labels": None,
        }
        assert np.array_equal(old.codes(), codes) and old.geo_items() == []
    with CodeIndex.open(tmp_path / "ix") as index:
        geo = {"scene": "s", "window": [0, 0, 4, 4], "crs": None, "bounds": None, "lonlat_bounds": None}
        index.add([{"path": "/s#0,0,4,4", "width": 4, "height": 4, "labels": None, "geo": geo}], codes[:1])
        index.set_radiometry({"kind": "uint8", "scale": 1.0, "low": 0.0, "high": 255.0})
        assert index.format_version == 3  # the first write migrated it (geo column, code files)
    with CodeIndex.open(tmp_path / "ix", verify=True) as index:
        assert len(index) == 4 and index.get(4)["geo"]["scene"] == "s" and index.radiometry["kind"] == "uint8"
        assert index.info()["format_version"] == 3
        assert np.array_equal(index.codes(), np.vstack([codes, codes[:1]]))


def test_geo_keys_match_georef():
    from mlrsir.geo.georef import GEO_KEYS as GEOREF_KEYS

    assert GEO_KEYS == GEOREF_KEYS


def test_stac_item_scene(hash_encoder, tmp_path, capsys):
    pystac = pytest.importorskip("pystac")
    from datetime import datetime, timezone

    folder = _s2_folder(tmp_path / "bands")
    item = pystac.Item("stac-scene", None, None, datetime(2020, 3, 15, tzinfo=timezone.utc), {})
    for band, common in (("B02", "blue"), ("B03", "green"), ("B04", "red")):
        asset = pystac.Asset(str(folder / f"T31_{band}.tif"), media_type=pystac.MediaType.GEOTIFF, roles=["data"])
        asset.extra_fields["eo:bands"] = [{"name": band, "common_name": common}]
        item.add_asset(band, asset)
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item.to_dict()))
    assert build(hash_encoder, [path], tmp_path / "ix", "--tile", "32", "--bands", "red,green,blue") == 0
    assert "added 12 tiles of 1 scene(s)" in capsys.readouterr().out
    with CodeIndex.open(tmp_path / "ix") as index:
        geo = index.get(1)["geo"]
        assert (
            geo["scene"] == "stac-scene"
            and geo["datetime"].startswith("2020-03-15")
            and geo["bands"] == ["B04", "B03", "B02"]
        )
        assert index.get(1)["path"].startswith(str(path.resolve()) + "#")
        assert encode(index, index.get(7)["path"])[0]["id"] == 7
    (folder / "T31_B03.tif").unlink()
    assert main(["index", "add", "--index", str(tmp_path / "ix"), "--images", str(path), "--tile", "32"]) == 2
    assert "T31_B03.tif" in capsys.readouterr().out
