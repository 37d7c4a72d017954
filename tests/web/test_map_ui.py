"""The map page on an index of the real Sentinel-2 scene (``../shared/data/geo``, 64 tiles of
256 px, PixelHashEncoder codes): the API's box / time / cloud filters and, in Chromium
(one browser and one server for the module), the map's scene pixels, a click searching at
a point, a drawn box filtering the results, a ✓/✗ round of "find all like these", a hit's
popup and its match heat map on the card and on the map, and the basemap layer.

Cloud fractions: the scene ships no quality band, so ``update_cloud_fractions`` runs with
a stand-in band (B04, the tiles' own 10 m grid) whose fraction of a tile is its column
offset / 2000 (0 .. 0.9).
"""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest
from PIL import Image

import mlrsir.index.tile_quality as tile_quality
from mlrsir.index.scenes import encode_scenes_into_index
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import make_run
from tests.geo.conftest import S2_DIR
from tests.geo.test_index_scenes import PixelHashEncoder
from tests.web.test_browser import browser_page, serving

pytest.importorskip("rio_tiler", reason="the map tiles need rio-tiler (pip install 'mlrsir[map]')")

BACKGROUND = np.array([0xE8, 0xEC, 0xEF])  # the map's background colour (map.js)


def _cloud(geo) -> float:
    return geo["window"][0] / 2000.0


@pytest.fixture(scope="module")
def s2(tmp_path_factory):
    """``(app, geo by id)``: the S2 scene indexed with tile 256 and stand-in cloud fractions."""
    if not (S2_DIR / "bands" / "s2_B04.tif").is_file():
        pytest.skip(f"Sentinel-2 data not found at {S2_DIR}")
    from mlrsir.web.app import create_app

    root = tmp_path_factory.mktemp("s2ui")
    encoder = PixelHashEncoder(make_run(root / "run"))
    index = CodeIndex.create(
        root / "ix", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=None
    )
    encode_scenes_into_index(index, encoder, [S2_DIR], tile=256, progress=False, log=lambda *_: None)
    mp = pytest.MonkeyPatch()
    mp.setattr(tile_quality, "find_quality_band", lambda scene: S2_DIR / "bands" / "s2_B04.tif")
    mp.setattr(tile_quality, "window_cloud_fraction", lambda qa, window: window[0] / 2000.0)
    tile_quality.update_cloud_fractions(index)
    mp.undo()
    geo = dict(index.geo_items())
    index.close()
    assert len(geo) == 64
    return create_app(root / "ix", encoder=encoder), geo


@pytest.fixture(scope="module")
def s2_client(s2):
    from fastapi.testclient import TestClient

    with TestClient(s2[0], base_url="http://localhost") as test_client:
        yield test_client


def _intersects(a, b) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


# ---------------------------------------------------------------------------- API
def test_search_filters_by_box_time_and_cloud(s2, s2_client):
    _app, geo = s2
    ids = sorted(geo)
    w, s, e, n = geo[ids[9]]["lonlat_bounds"]
    bbox = [w, s, (w + e) / 2, (s + n) / 2]  # a quarter of one tile: it and the neighbours it touches
    inside = {i for i in ids if _intersects(geo[i]["lonlat_bounds"], bbox)}
    assert 1 <= len(inside) < 10
    body = s2_client.post("/api/search", json={"item_id": ids[0], "k": 64, "bbox": bbox}).json()
    assert {r["id"] for r in body["results"]} == inside - {ids[0]}
    # cloud: the stand-in fractions, on the results and as a filter
    body = s2_client.post("/api/search", json={"item_id": ids[0], "k": 64, "max_cloud": 0.3}).json()
    assert body["results"] and all(r["cloud"] == _cloud(geo[r["id"]]) <= 0.3 for r in body["results"])
    assert {r["id"] for r in body["results"]} == {i for i in ids if _cloud(geo[i]) <= 0.3} - {ids[0]}
    # time: the scene was acquired on 2016-01-12
    assert (
        len(s2_client.post("/api/search", json={"item_id": ids[0], "k": 64, "after": "2016-01-12"}).json()["results"])
        == 63
    )
    form = {"item_id": str(ids[0]), "before": "2016-01-11"}
    body = s2_client.post("/api/search", data=form).json()
    assert body["results"] == [] and body["params"]["before"] == "2016-01-11"
    bad = s2_client.post("/api/search", json={"item_id": ids[0], "after": "12/01/2016"})
    assert bad.status_code == 422 and "after" in bad.json()["detail"]
    assert s2_client.post("/api/search", json={"item_id": ids[0], "max_cloud": 1.5}).status_code == 422


def test_like_these_filters_and_scene_ranges(s2, s2_client):
    _app, geo = s2
    ids = sorted(geo)
    body = {"positives": [ids[0], ids[1]], "negatives": [ids[2]], "k": 64, "max_cloud": 0.5}
    results = s2_client.post("/api/like-these", json=body).json()["results"]
    assert {r["id"] for r in results} == {i for i in ids[3:] if _cloud(geo[i]) <= 0.5}
    bbox = geo[ids[40]]["lonlat_bounds"]
    results = s2_client.post("/api/like-these", json={**body, "max_cloud": None, "bbox": bbox}).json()["results"]
    assert results and all(_intersects(geo[r["id"]]["lonlat_bounds"], bbox) for r in results)
    filters = s2_client.get("/api/scenes").json()["filters"]
    clouds = [_cloud(g) for g in geo.values()]
    assert filters == {"datetime": ["2016-01-12", "2016-01-12"], "cloud": [min(clouds), max(clouds)], "cloud_known": 64}


def test_time_filter_on_an_index_without_scenes_is_refused(client):
    """The conftest's index of plain images (no scene tile): a 400 naming the filters."""
    r = client.post("/api/search", json={"item_id": 1, "after": "2016-01-01"})
    assert r.status_code == 400 and "after/before/max_cloud" in r.json()["detail"]
    assert client.post("/api/search", json={"item_id": 1}).status_code == 200


def test_basemap_template_is_checked_served_and_allowed_by_the_csp(archive, encoder, tmp_path):
    from fastapi.testclient import TestClient

    from mlrsir.errors import ConfigError
    from mlrsir.web.app import create_app
    from tests.web.conftest import build_index

    index_path, index = build_index(archive, tmp_path / "index", encoder)
    for bad, why in [
        ("ftp://tiles.example.org/{z}/{x}/{y}.png", "expected an http"),
        ("https://tiles.example.org/{z}/{x}.png", "lacks {y}"),
        ("tiles/{z}/{x}/{y}.png", "expected an http"),
    ]:
        with pytest.raises(ConfigError, match=f"--basemap '{re.escape(bad)}': .*{re.escape(why)}"):
            create_app(index_path, encoder=encoder, index=index, basemap=bad)
    url = "https://tiles.example.org:8443/base/{z}/{x}/{y}.png"
    app = create_app(index_path, encoder=encoder, index=index, basemap=url)
    with TestClient(app, base_url="http://localhost") as c:
        r = c.get("/api/health")
        assert r.json()["basemap"] == url
        policy = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
        assert policy["img-src"] == "'self' data: blob: https://tiles.example.org:8443"
        assert policy["connect-src"] == "'self' https://tiles.example.org:8443" and policy["script-src"] == "'self'"
    plain = create_app(index_path, encoder=encoder, index=index)
    with TestClient(plain, base_url="http://localhost") as c:
        r = c.get("/api/health")
        assert r.json()["basemap"] is None and "example" not in r.headers["content-security-policy"]


# ---------------------------------------------------------------------------- browser
@pytest.fixture(scope="module")
def page(s2):
    app, _geo = s2
    with serving(app) as url, browser_page(url) as page:
        # the basemap: the scene's own tiles through this server (the page may fetch nothing else)
        sid = app.state.web.service.scenes.feature_collection()["features"][0]["id"]
        app.state.web.basemap = f"{url}/api/scenes/{sid}/tiles/{{z}}/{{x}}/{{y}}.png"
        page.goto(url + "/")
        page.wait_for_selector("#map[data-ready='true']", timeout=60_000)
        yield page


def _search_at_centre(page):
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#grid .result")
    return box


def _grid_ids(page) -> list[int]:
    return [int(v) for v in page.eval_on_selector_all("#grid .result", "els => els.map(e => e.dataset.id)")]


@pytest.mark.browser
def test_map_shows_scene_pixels_under_the_basemap_layer_order(page, s2):
    assert page.is_visible("#map-card") and page.is_visible("#at-form") and page.is_visible("#geo-filters")
    layers = page.evaluate("() => mlrsirMap.layerIds()")
    scene_layers = [i for i, name in enumerate(layers) if name.startswith("scene-")]
    assert layers.index("basemap") < scene_layers[0] and scene_layers[-1] < layers.index("footprints")
    deadline = time.monotonic() + 60
    while True:  # the map's centre lies inside the scene footprint (the map is fitted to it)
        shot = np.asarray(Image.open(io.BytesIO(page.locator("#map").screenshot())).convert("RGB")).astype(int)
        h, w = shot.shape[:2]
        centre = shot[h // 2 - 40 : h // 2 + 40, w // 2 - 40 : w // 2 + 40]
        # real pixels: not the background colour, and textured (not one flat colour)
        if np.abs(centre - BACKGROUND).sum(axis=-1).min() > 30 and centre.std(axis=(0, 1)).max() > 3:
            break
        assert time.monotonic() < deadline, "the map shows no scene pixels"
        time.sleep(0.5)


@pytest.mark.browser
def test_click_returns_the_tile_under_it_first_and_a_hit_popup(page, s2):
    _app, geo = s2
    _search_at_centre(page)
    lon, lat = float(page.input_value("#at-lon")), float(page.input_value("#at-lat"))
    first = _grid_ids(page)[0]
    w, s, e, n = geo[first]["lonlat_bounds"]
    assert w <= lon <= e and s <= lat <= n
    # hits carry their rank on the map; hovering a hit shows its popup
    page.wait_for_selector(".rank-marker")
    assert len(page.query_selector_all(".rank-marker")) == len(_grid_ids(page))
    marker = page.locator(".rank-marker", has_text=re.compile("^2$")).bounding_box()
    page.mouse.move(marker["x"] + marker["width"] + 12, marker["y"] + marker["height"] + 12)
    page.wait_for_selector(".hit-popup", timeout=10_000)
    text = page.inner_text(".hit-popup")
    assert "acquired 2016-01-12" in text and "cloud" in text and "%" in text
    # clicking a hit searches from that tile
    second = _grid_ids(page)[1]
    page.locator(".rank-marker", has_text=re.compile("^2$")).click()
    c, r, w, h = geo[second]["window"]
    page.wait_for_function(
        "t => document.getElementById('query-name').textContent.includes(t)", arg=f"#{c},{r},{w},{h}"
    )
    page.wait_for_function("() => document.body.getAttribute('aria-busy') === 'false'")
    assert second not in _grid_ids(page)


@pytest.mark.browser
def test_drawn_box_filters_results_to_intersecting_footprints(page, s2):
    _app, geo = s2
    box = _search_at_centre(page)
    before = _grid_ids(page)
    x0, y0 = box["x"] + box["width"] * 0.52, box["y"] + box["height"] * 0.52
    page.keyboard.down("Shift")
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 60, y0 + 40, steps=5)
    page.mouse.move(x0 + 120, y0 + 80, steps=5)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("() => !document.getElementById('bbox-clear').hidden")
    bbox = [float(v) for v in page.inner_text("#bbox-text").split(",")]
    page.wait_for_function(
        "before => { const ids = [...document.querySelectorAll('#grid .result')].map(e => +e.dataset.id);"
        " return document.body.getAttribute('aria-busy') === 'false' && ids.join() !== before.join(); }",
        arg=before,
    )
    after = _grid_ids(page)
    assert after and all(_intersects(geo[i]["lonlat_bounds"], bbox) for i in after)
    assert any(not _intersects(geo[i]["lonlat_bounds"], bbox) for i in before)  # the box did filter
    page.click("#bbox-clear")
    page.wait_for_function("() => document.getElementById('bbox-clear').hidden")


@pytest.mark.browser
def test_a_mark_round_changes_the_ranking_as_the_api_does(page, s2):
    _search_at_centre(page)
    page.wait_for_function("() => document.body.getAttribute('aria-busy') === 'false'")
    before = _grid_ids(page)
    cards = page.locator("#grid .result")
    cards.nth(0).locator(".mark.pos").click()
    cards.nth(1).locator(".mark.pos").click()
    cards.nth(2).locator(".mark.neg").click()
    assert page.inner_text("#like-btn") == "Find all like these (2 ✓, 1 ✗)"
    page.click("#like-btn")
    page.wait_for_selector("#grid .result .dist:has-text('s = ')")
    after = _grid_ids(page)
    expected = page.request.post(
        page.url.rstrip("/") + "/api/like-these",
        data={"positives": before[:2], "negatives": [before[2]], "k": len(before)},
    ).json()["results"]
    assert after == [r["id"] for r in expected]
    assert after != before and not set(after) & set(before[:3])
    assert "round 1" in page.inner_text("#like-status")
    page.click("#like-clear")


@pytest.mark.browser
def test_match_heat_map_on_the_card_and_over_the_hit_on_the_map(page, s2):
    _search_at_centre(page)
    page.wait_for_function("() => document.body.getAttribute('aria-busy') === 'false'")
    card = page.locator("#grid .result").nth(1)
    card.locator(".where").click()
    card.locator(".match-overlay").wait_for(timeout=20_000)
    page.wait_for_function("() => mlrsirMap.layerIds().includes('match')")
    layers = page.evaluate("() => mlrsirMap.layerIds()")
    assert layers.index("match") < layers.index("footprints")


@pytest.mark.browser
def test_cloud_and_date_controls_filter_the_search(page, s2):
    _app, geo = s2
    assert page.is_visible("#cloud-row")  # cloud fractions are stored
    assert page.get_attribute("#after-input", "min") == "2016-01-12"
    _search_at_centre(page)
    page.wait_for_function("() => document.body.getAttribute('aria-busy') === 'false'")
    before = _grid_ids(page)
    assert any(_cloud(geo[i]) > 0.3 for i in before)
    page.fill("#cloud-input", "30")
    page.dispatch_event("#cloud-input", "change")
    page.wait_for_function(
        "before => document.body.getAttribute('aria-busy') === 'false' &&"
        " [...document.querySelectorAll('#grid .result')].map(e => +e.dataset.id).join() !== before.join()",
        arg=before,
    )
    after = _grid_ids(page)
    assert after and all(_cloud(geo[i]) <= 0.3 for i in after)
    page.fill("#cloud-input", "")
    page.fill("#before-input", "2016-01-11")  # the scene was acquired the day after
    page.dispatch_event("#before-input", "change")
    page.wait_for_selector("#empty:not([hidden])")
    assert "No tiles pass the box, time and cloud filters" in page.inner_text("#empty-title")
    page.fill("#before-input", "")
