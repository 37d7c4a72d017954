"""Map endpoints of the web app: ``GET /api/scenes`` (GeoJSON footprints) and the Web Mercator
XYZ tiles ``/api/scenes/{id}/tiles/{z}/{x}/{y}.png`` on an index of a generated Sentinel-2-like
band folder (10 m UTM 18N, 128 x 96 px, overviews, a nodata strip)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from mlrsir.geo.radiometry import SENTINEL2_L1C
from mlrsir.index.scenes import encode_scenes_into_index
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import make_run
from tests.geo.conftest import write_raster
from tests.geo.test_index_scenes import PixelHashEncoder

rio_tiler = pytest.importorskip("rio_tiler", reason="the map tiles need rio-tiler (pip install 'mlrsir[map]')")
from rio_tiler.io import Reader  # noqa: E402

ORIGIN = (500000.0, 4000000.0)
WIDTH, HEIGHT = 128, 96
NODATA_COLUMNS = 8  # B04 is 0 (its nodata) in the first 8 columns
BLUE_VALUE = 1200  # B02 is constant: reflectance 0.12 -> 0.12 / 0.3 * 255 = 102


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    from fastapi.testclient import TestClient

    from mlrsir.web.app import create_app

    root = tmp_path_factory.mktemp("maptiles")
    folder = root / "S2A_MSIL1C_20200315T101021_map"
    folder.mkdir()
    rng = np.random.default_rng(5)
    transform = Affine(10, 0, ORIGIN[0], 0, -10, ORIGIN[1])
    files = {}
    for band in ("B02", "B03", "B04"):
        data = rng.integers(1, 3000, (HEIGHT, WIDTH), dtype=np.uint16)
        nodata = None
        if band == "B02":
            data[:] = BLUE_VALUE
        if band == "B04":
            data[:, :NODATA_COLUMNS] = 0
            nodata = 0
        path = write_raster(
            folder / f"T18_{band}.tif", data, transform, nodata=nodata, tiled=True, blockxsize=32, blockysize=32
        )
        with rasterio.open(path, "r+") as ds:
            ds.build_overviews([2, 4], rasterio.enums.Resampling.average)
        files[band] = path
    encoder = PixelHashEncoder(make_run(root / "run"))
    index = CodeIndex.create(
        root / "ix", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=None
    )
    summary = encode_scenes_into_index(index, encoder, [folder], tile=32, progress=False, log=lambda *_: None)
    geo = dict(index.geo_items())
    index.close()
    app = create_app(root / "ix", encoder=encoder)
    with TestClient(app, base_url="http://localhost") as client:
        yield client, files, summary, geo, app


def _centre_tile(client, z):
    import morecantile

    feature = client.get("/api/scenes").json()["features"][0]
    ring = np.array(feature["geometry"]["coordinates"][0])
    lon, lat = ring[:, 0].mean(), ring[:, 1].mean()
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return feature["id"], t.x, t.y


def _rgba(response) -> np.ndarray:
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256) and image.mode == "RGBA"
    return np.asarray(image)


def test_scenes_feature_collection(scene):
    from pyproj import Transformer

    client, _files, summary, geo, _app = scene
    r = client.get("/api/scenes")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 1
    feature = body["features"][0]
    props = feature["properties"]
    assert feature["id"] == props["id"] and props["id"].startswith("S2A_MSIL1C_20200315T101021_map-")
    assert props["tiles"] == summary["tiles_added"] == len(geo)
    assert props["crs"] == "EPSG:32618"
    assert props["datetime"] == next(iter(geo.values()))["datetime"] and props["datetime"].startswith("2020-03-15")
    assert (props["width"], props["height"]) == (WIDTH, HEIGHT)
    assert client.get(props["quicklook_url"]).status_code == 200  # the quick-look endpoint's id
    assert props["tiles_url"] == f"/api/scenes/{props['id']}/tiles/{{z}}/{{x}}/{{y}}.png"
    # footprint: the 4 corners of the 1280 m x 960 m grid in lon/lat, a closed CCW ring
    assert feature["geometry"]["type"] == "Polygon"
    ring = feature["geometry"]["coordinates"][0]
    to_lonlat = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    x0, y1 = ORIGIN
    x1, y0 = x0 + 10 * WIDTH, y1 - 10 * HEIGHT
    native = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    corners = {tuple(round(v, 7) for v in to_lonlat.transform(x, y)) for x, y in native}
    assert ring[0] == ring[-1] and {tuple(p) for p in ring} == corners
    assert sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring[:-1], ring[1:])) > 0


@pytest.mark.parametrize("z", [14, 16])
def test_tile_pixels_equal_rio_tiler_with_the_index_radiometry(scene, z):
    client, files, _summary, _geo, _app = scene
    sid, x, y = _centre_tile(client, z)
    rgba = _rgba(client.get(f"/api/scenes/{sid}/tiles/{z}/{x}/{y}.png"))
    planes, valid = [], np.ones((256, 256), bool)
    for band in ("B04", "B03", "B02"):  # red, green, blue
        with Reader(str(files[band])) as src:
            image = src.tile(x, y, z, tilesize=256)
        planes.append(np.ma.getdata(image.array)[0])
        valid &= ~np.ma.getmaskarray(image.array)[0]
    expected = np.moveaxis(SENTINEL2_L1C.to_uint8(np.stack(planes)), 0, -1)
    assert valid.any() and valid.all() == (z == 16)  # at z 14 the tile (~2 km) is larger than the scene
    np.testing.assert_array_equal(rgba[..., 3], np.where(valid, 255, 0))
    np.testing.assert_array_equal(rgba[valid][:, :3], expected[valid])
    assert (rgba[valid][:, 2] == 102).all()  # the constant blue band, computed by hand
    assert (rgba[~valid] == 0).all()


def test_nodata_pixels_are_transparent(scene):
    client, files, _summary, _geo, _app = scene
    sid, x, y = _centre_tile(client, 18)  # ~0.5 m pixels: the tile holds scene pixels, all B04 data
    with Reader(str(files["B04"])) as src:
        b04 = src.tile(x, y, 18, tilesize=256)
    rgba = _rgba(client.get(f"/api/scenes/{sid}/tiles/18/{x}/{y}.png"))
    assert (rgba[..., 3] == 255).all()
    import morecantile

    # the tile over the scene's west edge: the nodata strip of B04 is transparent
    tms = morecantile.tms.get("WebMercatorQuad")
    with Reader(str(files["B04"])) as src:
        west, south, east, north = src.get_geographic_bounds(tms.rasterio_geographic_crs)
    edge = tms.tile(west + 1e-6, (south + north) / 2, 18)
    rgba = _rgba(client.get(f"/api/scenes/{sid}/tiles/18/{edge.x}/{edge.y}.png"))
    with Reader(str(files["B04"])) as src:
        b04 = src.tile(edge.x, edge.y, 18, tilesize=256)
    b04_valid = ~np.ma.getmaskarray(b04.array)[0]
    np.testing.assert_array_equal(rgba[..., 3] == 255, b04_valid)
    assert not b04_valid.all()


def test_tile_outside_the_scene_is_transparent(scene):
    client, _files, _summary, _geo, _app = scene
    sid, x, y = _centre_tile(client, 14)
    for z, tx, ty in [(14, x + 3, y), (14, 0, 0), (0, 0, 0)]:
        rgba = _rgba(client.get(f"/api/scenes/{sid}/tiles/{z}/{tx}/{ty}.png"))
        if (z, tx, ty) != (0, 0, 0):
            assert (rgba == 0).all()
    assert (_rgba(client.get(f"/api/scenes/{sid}/tiles/0/0/0.png"))[..., 3] == 0).sum() > 256 * 256 - 4


@pytest.mark.parametrize(
    ("path", "status"),
    [("25/0/0", 422), ("-1/0/0", 422), ("3/8/0", 400), ("3/0/8", 400), ("3/-1/0", 422), ("3/0/a", 422)],
)
def test_bad_tile_coordinates_are_4xx(scene, path, status):
    client, _files, _summary, _geo, _app = scene
    sid = client.get("/api/scenes").json()["features"][0]["id"]
    r = client.get(f"/api/scenes/{sid}/tiles/{path}.png")
    assert r.status_code == status and "detail" in r.json()


def test_unknown_scene_is_404(scene):
    client, *_ = scene
    r = client.get("/api/scenes/nope-12345678/tiles/3/0/0.png")
    assert r.status_code == 404 and "no indexed scene" in r.json()["detail"]


def test_tiles_are_cached(scene):
    client, _files, _summary, _geo, app = scene
    sid, x, y = _centre_tile(client, 15)
    cache = app.state.web.service.scenes.map_tiles
    first = client.get(f"/api/scenes/{sid}/tiles/15/{x}/{y}.png").content
    hits = cache.hits
    assert client.get(f"/api/scenes/{sid}/tiles/15/{x}/{y}.png").content == first
    assert cache.hits == hits + 1


def test_index_without_georeferenced_items_has_no_scenes_and_no_place_box(client):
    assert client.get("/api/health").json()["georeferenced"] is False
    assert client.get("/api/scenes").json() == {
        "type": "FeatureCollection",
        "features": [],
        "filters": {"datetime": None, "cloud": None, "cloud_known": 0},
    }


FIRST_USE_FROM_THREADS = """
import sys
from concurrent.futures import ThreadPoolExecutor
from mlrsir.geo.radiometry import SENTINEL2_L1C
from mlrsir.geo.raster import band_sources
from mlrsir.web import map_tiles

bands = [band_sources(p)[0] for p in sys.argv[1:4]]
x, y = int(sys.argv[4]), int(sys.argv[5])
with ThreadPoolExecutor(4) as pool:
    pngs = list(pool.map(lambda z: map_tiles.tile_png(bands, SENTINEL2_L1C, 14, x, y), range(4)))
assert len(set(pngs)) == 1 and pngs[0] != map_tiles.TRANSPARENT_PNG
"""


def test_first_tiles_rendered_from_several_threads_at_once(scene, tmp_path):
    # regression: rio-tiler imported lazily by 4 server threads at once failed ("need rio-tiler", 400)
    import subprocess
    import sys

    client, files, *_ = scene
    _sid, x, y = _centre_tile(client, 14)
    script = tmp_path / "threads.py"
    script.write_text(FIRST_USE_FROM_THREADS)
    argv = [sys.executable, str(script), *(str(files[b]) for b in ("B04", "B03", "B02")), str(x), str(y)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
