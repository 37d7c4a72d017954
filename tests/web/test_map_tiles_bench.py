"""``mlrsir bench map-tiles``: the XYZ tile numbering, the tiles of a footprint, and one run
against a live server on the generated scene index of ``test_map_tiles``."""

from __future__ import annotations

import pytest

from mlrsir.bench import map_tiles
from mlrsir.errors import ConfigError
from tests.web.test_browser import serving
from tests.web.test_map_tiles import scene  # noqa: F401 (fixture)


def test_lonlat_tile_numbering_by_hand():
    assert map_tiles.lonlat_tile(0.0, 0.0, 0) == (0, 0)
    assert map_tiles.lonlat_tile(0.001, -0.001, 1) == (1, 1)
    assert map_tiles.lonlat_tile(-179.9, 85.0, 2) == (0, 0)
    assert map_tiles.lonlat_tile(180.0, -89.0, 2) == (3, 3)  # clamped to the last tile
    # x = floor(105 / 360 * 8192) = 2389; y = floor((1 - asinh(tan 36 deg) / pi) / 2 * 8192) = 3216
    assert map_tiles.lonlat_tile(-75.0, 36.0, 13) == (2389, 3216)


def test_footprint_tiles_cover_the_box():
    square = {"type": "Polygon", "coordinates": [[[-1, -1], [1, -1], [1, 1], [-1, 1], [-1, -1]]]}
    assert map_tiles.footprint_tiles(square, 1) == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert map_tiles.footprint_tiles(square, 0) == [(0, 0)]


def test_measure_against_a_live_server(scene):  # noqa: F811
    _client, _files, _summary, _geo, app = scene
    with serving(app) as url:
        result = map_tiles.measure(url, zoom=15, rounds=2)
        with pytest.raises(ConfigError, match="no readable scene"):
            map_tiles.measure(url, zoom=15, rounds=1, scene="nope")
    assert [r["row"] for r in result["rows"]] == ["tile_first", "tile_warm", "quicklook_first", "quicklook_warm"]
    n = result["tiles"]
    assert n >= 1 and [r["requests"] for r in result["rows"]] == [n, 2 * n, 1, 2]
    assert all(r["p50_ms"] > 0 and r["png_bytes"] > 0 for r in result["rows"])
    assert "| tile_warm |" in map_tiles.to_markdown(result)
