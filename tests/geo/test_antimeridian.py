"""Issue 24 item 6: an EPSG:4326 raster from 179.5 E runs past 180 degrees. Bounds are stored in
[-180, 180] with west > east across the antimeridian (RFC 7946 section 5.2), GeoJSON footprints
are cut into a MultiPolygon (section 3.1.9), and ``--at`` finds tiles on both sides."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine

from mlrsir.cli.main import main
from mlrsir.geo.antimeridian import (
    bounds_contain,
    bounds_intersect,
    normalise_lonlat_bounds,
    split_polygon,
    wrap_lon,
)
from mlrsir.geo.geojson import bbox_rings
from mlrsir.index.store import CodeIndex

from .conftest import write_raster
from .test_index_scenes import build, hash_encoder  # noqa: F401 (fixture)

# 104 columns of 0.01 degrees from 179.5 E: the raster ends at 180.54 (= -179.46)
TRANSFORM = Affine(0.01, 0, 179.5, 0, -0.01, 10.0)


def test_wrap_and_normalise_by_hand():
    assert wrap_lon(180.52) == pytest.approx(-179.48)
    assert wrap_lon(-180.5) == pytest.approx(179.5)
    assert wrap_lon(180.0) == 180.0 and wrap_lon(-180.0) == -180.0 and wrap_lon(12.5) == 12.5
    assert normalise_lonlat_bounds([179.5, 9.0, 180.52, 10.0]) == pytest.approx([179.5, 9.0, -179.48, 10.0])
    assert normalise_lonlat_bounds([-10, 0, 400, 1]) == [-180.0, 0, 180.0, 1]


def test_contain_and_intersect_across_the_antimeridian():
    crossing = [179.5, 9.0, -179.48, 10.0]
    assert bounds_contain(crossing, -179.8, 9.7) and bounds_contain(crossing, 179.9, 9.7)
    assert bounds_contain(crossing, 180.0, 9.5) and bounds_contain(crossing, -180.0, 9.5)
    assert not bounds_contain(crossing, 0.0, 9.7) and not bounds_contain(crossing, -179.0, 9.7)
    assert not bounds_contain(crossing, -179.8, 11.0)
    assert bounds_intersect(crossing, [-179.9, 9.1, -179.7, 9.2])
    assert bounds_intersect(crossing, [179.6, 9.1, 179.7, 9.2])
    assert not bounds_intersect(crossing, [-170, 9.1, -160, 9.2])
    assert not bounds_intersect([0, 0, 1, 1], [2, 0, 3, 1])


def test_split_polygon_by_hand():
    parts = split_polygon([[179.5, 9.0], [180.5, 9.0], [180.5, 10.0], [179.5, 10.0]])
    assert len(parts) == 2
    east, west = parts
    assert sorted({p[0] for p in east}) == [179.5, 180.0]
    assert sorted({p[0] for p in west}) == pytest.approx([-180.0, -179.5])
    # a ring given with the jump (+179.9 -> -179.9) is unwrapped first
    assert len(split_polygon([[179.9, 0], [-179.9, 0], [-179.9, 1], [179.9, 1]])) == 2
    assert split_polygon([[1, 0], [2, 0], [2, 1]]) == [[[1.0, 0.0], [2.0, 0.0], [2.0, 1.0]]]
    assert len(bbox_rings([179.5, 9.0, -179.48, 10.0])) == 2


def test_index_of_a_raster_past_180_degrees(hash_encoder, tmp_path, capsys):  # noqa: F811
    rng = np.random.default_rng(0)
    path = write_raster(
        tmp_path / "dateline.tif", rng.integers(1, 250, (3, 64, 104), dtype=np.uint8), TRANSFORM, "EPSG:4326"
    )
    assert build(hash_encoder, [path], tmp_path / "ix", "--tile", "52", "--stride", "52") == 0
    with CodeIndex.open(tmp_path / "ix") as index:
        bounds = {item_id: geo["lonlat_bounds"] for item_id, geo in index.geo_items()}
    assert len(bounds) == 4  # 2 columns x 2 rows (the last row is aligned to the raster's edge)
    for west, _south, east, _north in bounds.values():
        assert -180 <= west <= 180 and -180 <= east <= 180
    # west tiles (columns 0-51: 179.50 .. 180.02) cross the antimeridian: west > east;
    # east tiles (columns 52-103: 180.02 .. 180.54) lie wholly at -179.98 .. -179.46
    assert sorted(b[0] for b in bounds.values()) == pytest.approx([-179.98, -179.98, 179.5, 179.5])
    assert sorted(b[2] for b in bounds.values()) == pytest.approx([-179.98, -179.98, -179.46, -179.46])

    capsys.readouterr()
    out = tmp_path / "hits.geojson"
    for lon in ("-179.8", "179.7"):
        args = ["search", "--index", str(tmp_path / "ix"), "--at", f"{lon},9.7", "--k", "2", "--json"]
        assert main([*args, "--geojson", str(out)]) == 0
        rows = json.loads(capsys.readouterr().out)
        rows = rows["results"] if isinstance(rows, dict) else rows
        assert rows[0]["distance"] == 0
        found = rows[0]["geo"]["lonlat_bounds"]
        assert bounds_contain(found, float(lon), 9.7)
        for feature in json.loads(out.read_text())["features"]:
            geometry = feature["geometry"]
            polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
            for polygon in polygons:
                assert all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in polygon[0])


def test_bbox_across_the_antimeridian_and_negative_values(hash_encoder, tmp_path, capsys):  # noqa: F811
    rng = np.random.default_rng(1)
    path = write_raster(
        tmp_path / "dateline.tif", rng.integers(1, 250, (3, 52, 104), dtype=np.uint8), TRANSFORM, "EPSG:4326"
    )
    assert build(hash_encoder, [path], tmp_path / "ix", "--tile", "52") == 0
    query = f"{path.resolve()}#0,0,52,52"
    capsys.readouterr()
    # a box across the antimeridian (west > east), given without '=' although it starts with '-'
    base = ["search", "--index", str(tmp_path / "ix"), "--query", query, "--k", "5", "--json"]
    assert main([*base, "--bbox", "179.9,9.5,-179.9,9.6"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert len(rows) == 2  # both tiles touch that box
    assert main([*base, "--bbox", "-179.7,9.5,-179.6,9.6"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert len(rows) == 1 and rows[0]["geo"]["lonlat_bounds"][0] == pytest.approx(-179.98)
