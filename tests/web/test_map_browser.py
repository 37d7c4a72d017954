"""The page's map view (MapLibre from /static/vendor/) in Chromium: on the generated scene
index of ``test_map_tiles`` it shows the scene's tiles and a click searches at that point;
on the UCM-like index the map and the place box stay hidden and MapLibre is not loaded."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from mlrsir.web.app import STATIC_DIR
from tests.web.test_browser import browser_page, serving
from tests.web.test_map_tiles import scene  # noqa: F401 (fixture)

BACKGROUND = np.array([0xE8, 0xEC, 0xEF])  # the map's background colour (map.js)
VENDOR = ("maplibre-gl-csp.js", "maplibre-gl-csp-worker.js", "maplibre-gl.css", "LICENSE-maplibre-gl.txt")


def test_vendored_maplibre_is_served_with_its_licence(client):
    for name in VENDOR:
        assert (STATIC_DIR / "vendor" / name).is_file()
        r = client.get(f"/static/vendor/{name}")
        assert r.status_code == 200 and len(r.content) > 1000
    assert (
        "BSD" in client.get("/static/vendor/LICENSE-maplibre-gl.txt").text
        or "Redistribution" in (STATIC_DIR / "vendor" / "LICENSE-maplibre-gl.txt").read_text()
    )


@pytest.mark.browser
def test_map_shows_scene_pixels_and_a_click_searches_there(scene):  # noqa: F811
    _client, _files, _summary, geo, app = scene
    with serving(app) as url, browser_page(url) as page:
        page.wait_for_selector("#map[data-ready='true']", timeout=30_000)
        assert page.is_visible("#map-card") and page.is_visible("#at-form")
        # the scene's tiles are drawn: the map's centre is no longer the background colour
        deadline = time.monotonic() + 30
        while True:
            shot = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB"))
            centre = shot[
                shot.shape[0] // 2 - 20 : shot.shape[0] // 2 + 20, shot.shape[1] // 2 - 20 : shot.shape[1] // 2 + 20
            ]
            if np.abs(centre.astype(int) - BACKGROUND).sum(axis=-1).min() > 30:
                break
            assert time.monotonic() < deadline, "the map shows no scene pixels"
            time.sleep(0.5)
        box = page.locator("#map canvas").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#grid .result")
        lon, lat = float(page.input_value("#at-lon")), float(page.input_value("#at-lat"))
        first = int(page.locator("#grid .result").first.get_attribute("data-id") or -1)
        w, s, e, n = geo[first]["lonlat_bounds"]
        assert w <= lon <= e and s <= lat <= n  # the first hit is the tile under the click


@pytest.mark.browser
def test_ucm_like_index_shows_no_map_and_no_place_box(app):
    with serving(app) as url, browser_page(url) as page:
        page.wait_for_function("() => document.getElementById('status').textContent.includes('images')")
        assert not page.is_visible("#map-card") and not page.is_visible("#at-form")
        assert not page.is_visible("#geo-filters")
        assert page.evaluate("() => typeof window.maplibregl") == "undefined"
