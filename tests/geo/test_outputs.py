"""Radiometry, acquisition datetimes, GeoJSON and GeoParquet output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.geo import acquisition
from mlrsir.geo.geojson import feature_collection, signed_area, write_geojson
from mlrsir.geo.geoparquet import write_geoparquet
from mlrsir.geo.radiometry import LANDSAT8_L1_DN, SENTINEL2_L1C, Radiometry
from mlrsir.geo.scene import open_scene
from mlrsir.geo.tiling import SceneTiler


def test_reflectance_rule_fixed_and_clipped():
    r = SENTINEL2_L1C
    v = np.array([0, 1500, 3000, 6000, 65535], np.uint16)
    np.testing.assert_allclose(r.apply(v), [0, 127.5, 255, 255, 255], rtol=1e-6)
    assert r.apply(v).dtype == np.float32
    np.testing.assert_array_equal(r.to_uint8(v), [0, 128, 255, 255, 255])
    # the same value maps identically whatever else is in the tile (never re-estimated)
    assert r.apply(np.array([1500, 9000], np.uint16))[0] == r.apply(np.array([1500, 1], np.uint16))[0]


def test_uint8_passes_unchanged_and_json_roundtrip():
    x = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(SENTINEL2_L1C.apply(x), x.astype(np.float32))
    assert SENTINEL2_L1C.to_uint8(x) is x
    for r in (SENTINEL2_L1C, LANDSAT8_L1_DN):
        assert Radiometry.from_dict(json.loads(r.to_json())) == r
    np.testing.assert_allclose(LANDSAT8_L1_DN.apply(np.array([5000, 12500, 20000], np.uint16)), [0, 127.5, 255])
    with pytest.raises(ConfigError):
        Radiometry("reflectance", 10000, 0.3, 0.1)


def test_datetimes(tmp_path):
    assert acquisition.from_name("sentinel2-l1c-T18SVG-20160112") == "2016-01-12"
    assert acquisition.from_name("S2A_MSIL1C_20170613T101031_N0205") == "2017-06-13T10:10:31Z"
    assert acquisition.from_name("landsat8-LC80200392015216LGN00", "x_20161399") is None
    assert acquisition.from_bigearthnet("2017-06-13 10:10:31") == "2017-06-13T10:10:31Z"
    mtl = tmp_path / "X_MTL.txt"
    mtl.write_text('GROUP = A\n    DATE_ACQUIRED = 2015-08-04\n    SCENE_CENTER_TIME = "16:19:21.7917421Z"\nEND\n')
    assert acquisition.from_landsat_mtl(mtl) == "2015-08-04T16:19:21.791742Z"


def _geos(s2_dir, n=6):
    tiler = SceneTiler(open_scene(s2_dir), "B04", tile=512)
    return [info.geo for info, _ in list(tiler)[:n]]


def test_geojson_is_rfc7946(tmp_path, s2_dir):
    shapely = pytest.importorskip("shapely.geometry")
    geos = _geos(s2_dir)
    path = write_geojson(
        tmp_path / "r.geojson", [(g, {"id": f"t{i}", "rank": i, "score": 0.5}) for i, g in enumerate(geos)]
    )
    fc = json.loads(path.read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(geos)
    for f, g in zip(fc["features"], geos):
        assert f["type"] == "Feature" and f["id"] == f["properties"]["id"]
        assert f["geometry"]["type"] == "Polygon"
        (ring,) = f["geometry"]["coordinates"]
        assert ring[0] == ring[-1] and len(ring) == 5
        assert signed_area(ring) > 0  # counter-clockwise
        lon0, lat0, lon1, lat1 = g["lonlat_bounds"]
        for lon, lat in ring:  # lon/lat order, inside the tile's lon/lat bounds
            assert lon0 - 1e-6 <= lon <= lon1 + 1e-6 and lat0 - 1e-6 <= lat <= lat1 + 1e-6
        poly = shapely.shape(f["geometry"])
        assert poly.is_valid and poly.exterior.is_ccw


def test_feature_from_lonlat_bounds_only():
    fc = feature_collection([({"lonlat_bounds": [10, 40, 11, 41]}, {})])
    assert fc["features"][0]["geometry"]["coordinates"][0] == [[10, 40], [11, 40], [11, 41], [10, 41], [10, 40]]


def test_geoparquet_roundtrip_geopandas(tmp_path, s2_dir):
    gpd = pytest.importorskip("geopandas")
    geos = _geos(s2_dir, 4)
    items = [
        {
            "id": f"tile{i}",
            "path": f"tiles/{i}.npy",
            "code": bytes([i, 255 - i, 7, 9]),
            "labels": ["sea", "field"][: i % 3],
            "geo": g,
        }
        for i, g in enumerate(geos)
    ]
    path = write_geoparquet(tmp_path / "items.parquet", items)
    df = gpd.read_parquet(path)
    assert list(df["id"]) == [it["id"] for it in items]
    assert [bytes(c) for c in df["code"]] == [it["code"] for it in items]
    assert [list(x) for x in df["labels"]] == [it["labels"] for it in items]
    assert df.crs is not None and df.crs.equals("OGC:CRS84")
    assert list(df["datetime"]) == ["2016-01-12"] * 4 and list(df["scene"]) == [g["scene"] for g in geos]
    for geom, g in zip(df.geometry, geos):
        assert geom.geom_type == "Polygon" and geom.is_valid and geom.exterior.is_ccw
        np.testing.assert_allclose(geom.bounds, g["lonlat_bounds"], atol=1e-6)
