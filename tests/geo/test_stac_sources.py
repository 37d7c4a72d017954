"""``index build|add --stac URL``: a real STAC API (rustac's server on loopback, ``tests/fakes/stac_server.py``)
searched with pystac-client, static catalogues walked locally and over HTTP, the STAC provenance of the
tiles in every output, and the faults (a malformed page, a re-run).

The Items' assets are COGs served by the Range HTTP server (``tests/fakes/range_server.py``): one
multi-band COG per Item (bands named in ``eo:bands``), or one single-band COG per band (assets keyed by
common names). The encoder is :class:`PixelHashEncoder` (sha256 of the tile's pixels), so equal codes
mean equal pixels: tiles read through a STAC Item equal those of the same COG indexed as a local file.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import threading
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from affine import Affine

from mlrsir.bench.remote import write_cog
from mlrsir.cli.main import main
from mlrsir.errors import DataError
from mlrsir.geo.stac_search import StacQuery, StacScenes, refusal, time_range
from mlrsir.index.store import CodeIndex
from tests.fakes.range_server import RangeServer
from tests.geo.test_index_scenes import PixelHashEncoder, build

pytest.importorskip("pystac_client", reason="pystac-client (the stac extra) is not installed")

from tests.fakes.stac_server import StacApiServer, collection_dict, rustac_executable  # noqa: E402

SIDE, TILE = 256, 128
BANDS = (("B04", "red"), ("B03", "green"), ("B02", "blue"))


@pytest.fixture
def hash_run(monkeypatch, tmp_path):
    import mlrsir.inference.encoder as encoder_module
    from tests.fakes.encoder import make_run

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    return make_run(tmp_path / "run")


def need_rustac() -> None:
    if rustac_executable() is None:
        pytest.skip("rustac (the STAC API server of the stac/test extra) is not installed")


@contextlib.contextmanager
def stac_api(folder: Path, collections: list[dict], items: list[dict]):
    """rustac's STAC API serving ``items``; the test is skipped (with the server's log) when it cannot start."""
    need_rustac()
    server = StacApiServer(folder, collections, items)
    try:
        server.__enter__()
    except RuntimeError as exc:
        pytest.skip(f"the STAC API server could not start: {exc}")
    try:
        yield server
    finally:
        server.__exit__()


def scene_data(seed: int, side: int = SIDE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(300, 4000, (3, side, side)).astype(np.uint16)


def transform_of(n: int) -> Affine:
    return Affine(10, 0, 500000 + 5000 * n, 0, -10, 4000000)


def item_dict(n: int, assets: dict, *, collection="s2", cloud=10.0, day=None, lon=-75.0) -> dict:
    """A STAC Item ``it{n}`` (footprint a 0.02 degree box at ``lon``, 38 N)."""
    bbox = [lon + 0.03 * n, 38.0, lon + 0.03 * n + 0.02, 38.02]
    w, s, e, nn = bbox
    props = {"datetime": f"2020-01-{day or n + 1:02d}T10:00:00Z"}
    if cloud is not None:
        props["eo:cloud_cover"] = cloud
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": f"it{n}",
        "collection": collection,
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, nn], [w, nn], [w, s]]]},
        "bbox": bbox,
        "properties": props,
        "assets": assets,
        "links": [],
    }


def multiband_asset(href: str) -> dict:
    return {
        "cog": {
            "href": href,
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "eo:bands": [{"name": b, "common_name": c} for b, c in BANDS],
        },
        "thumbnail": {"href": href.replace(".tif", ".png"), "type": "image/png", "roles": ["thumbnail"]},
    }


def per_band_assets(hrefs: dict) -> dict:
    """One asset per band, keyed by its common name (no ``eo:bands``): the key is the band's alias."""
    return {c: {"href": hrefs[b], "type": "image/tiff; application=geotiff", "roles": ["data"]} for b, c in BANDS}


@pytest.fixture
def cogs(tmp_path) -> Path:
    """Served folder: ``scene{n}.tif`` (3 bands B04 B03 B02) for n < 4, and per-band ``pb_B0x.tif``."""
    folder = tmp_path / "served"
    folder.mkdir()
    for n in range(4):
        write_cog(folder / f"scene{n}.tif", scene_data(n), transform_of(n), names=[b for b, _c in BANDS])
    data = scene_data(99)
    for i, (b, _c) in enumerate(BANDS):
        write_cog(folder / f"pb_{b}.tif", data[i : i + 1], transform_of(9), names=())
    write_cog(folder / "pb_stack.tif", data, transform_of(9), names=[b for b, _c in BANDS])  # the same, stacked
    return folder


def stac_rows(index_dir: Path) -> list[dict]:
    with CodeIndex.open(index_dir, readonly=True) as index:
        return list(index.iter_items())


def codes_by(index_dir: Path, key) -> dict:
    return {key(row): row["code"] for row in stac_rows(index_dir)}


def stac_build(run, url, index, *extra) -> int:
    args = ["index", "build", "--run", str(run), "--stac", url, "--index", str(index), "--quiet", "--tile", str(TILE)]
    return main([*args, *map(str, extra)])


# ---------------------------------------------------------------------------- query checks (no server)
def test_time_range_and_item_refusals():
    start, stop = time_range("2020-01/2020-02-15")
    assert start.isoformat() == "2020-01-01T00:00:00+00:00" and stop.isoformat().startswith("2020-02-15T23:59:59")
    assert time_range("../2020")[0] is None and time_range("2020-03-01")[1].day == 1
    with pytest.raises(Exception, match="start is after the end"):
        time_range("2021-01-01/2020-01-01")
    import pystac

    item = pystac.Item.from_dict(item_dict(0, {}, cloud=40.0))
    assert refusal(item, StacQuery("u")) is None
    assert refusal(item, StacQuery("u", max_cloud=0.3)) == "cloud"
    assert refusal(item, StacQuery("u", max_cloud=0.4)) is None
    assert refusal(item, StacQuery("u", collections=("l8",))) == "collection"
    assert refusal(item, StacQuery("u", bbox=(10.0, 10.0, 11.0, 11.0))) == "bbox"
    assert refusal(item, StacQuery("u", bbox=(170.0, 30.0, -74.99, 40.0))) is None  # across the antimeridian
    assert refusal(item, StacQuery("u", datetime="2020-01-02/..")) == "datetime"
    assert refusal(item, StacQuery("u", datetime="2020-01-01")) is None
    no_cover = pystac.Item.from_dict(item_dict(1, {}, cloud=None))
    assert refusal(no_cover, StacQuery("u", max_cloud=0.5)) == "no_cloud_cover"


# ---------------------------------------------------------------------------- a real STAC API
def test_api_search_multiband_cogs_provenance_and_rerun(cogs, hash_run, tmp_path, capsys):
    """rustac's STAC API with 4 Items (cloud 5, 50, 20, no cover) of multi-band COGs: ``--max-cloud 0.3``
    keeps 2 (checked on the client: the server has no Query extension); their tiles equal the local
    files' tiles; provenance in the index, search --json and GeoJSON, GeoParquet; a re-run adds nothing."""
    need_rustac()
    with RangeServer(cogs) as files:
        covers = [5.0, 50.0, 20.0, None]
        items = [item_dict(n, multiband_asset(files.url(f"scene{n}.tif")), cloud=c) for n, c in enumerate(covers)]
        with stac_api(tmp_path / "api", [collection_dict("s2")], items) as api:
            ix = tmp_path / "ix"
            assert stac_build(hash_run, api.url, ix, "--collections", "s2", "--max-cloud", "0.3") == 0
            out = capsys.readouterr().out
            assert "STAC API" in out and "skipped 2 STAC items outside the query (1 cloud, 1 no cloud cover)" in out
            rows = stac_rows(ix)
            assert len(rows) == 2 * (SIDE // TILE) ** 2
            by_item = {}
            for row in rows:
                stac = row["geo"]["stac"]
                by_item.setdefault(stac["item"], stac)
                assert row["path"].startswith(f"{api.url}/collections/s2/items/{stac['item']}#")
            assert sorted(by_item) == ["it0", "it2"]
            it2 = by_item["it2"]
            assert it2 == {
                "item": "it2",
                "collection": "s2",
                "href": f"{api.url}/collections/s2/items/it2",
                "assets": {"cog": files.url("scene2.tif")},
                "datetime": "2020-01-03T10:00:00Z",
                "cloud_cover": 20.0,
            }
            assert all(r["geo"]["datetime"] == r["geo"]["stac"]["datetime"] for r in rows)

            # the same pixels as the COGs indexed as local files
            local = tmp_path / "local"
            assert build(hash_run, [cogs / "scene0.tif", cogs / "scene2.tif"], local, "--tile", TILE) == 0
            window_of = lambda row: (Path(row["path"].split("#")[0]).stem, row["path"].rsplit("#", 1)[1])
            local_codes = codes_by(local, window_of)
            stac_codes = codes_by(ix, lambda r: ("scene" + r["geo"]["stac"]["item"][2:], r["path"].rsplit("#", 1)[1]))
            assert stac_codes == local_codes

            # a re-run of the same command adds nothing
            capsys.readouterr()
            add = ["index", "add", "--index", str(ix), "--stac", api.url, "--collections", "s2"]
            assert main([*add, "--max-cloud", "0.3", "--tile", str(TILE), "--quiet"]) == 0
            out = capsys.readouterr().out
            assert "added 0 tiles of 2 scene(s)" in out and f"{len(rows)} already present" in out
            assert len(stac_rows(ix)) == len(rows)

            # search by a STAC tile: provenance in --json and GeoJSON; the time / cloud filters use it
            query = rows[0]["path"]
            geojson = tmp_path / "hits.geojson"
            assert (
                main(["search", "--index", str(ix), "--query", query, "--k", "50", "--json", "--geojson", str(geojson)])
                == 0
            )
            hits = json.loads(capsys.readouterr().out)
            assert len(hits) == len(rows) and {h["geo"]["stac"]["item"] for h in hits} == {"it0", "it2"}
            features = json.loads(geojson.read_text())["features"]
            props = {f["properties"]["stac_item"]: f["properties"] for f in features}
            assert props["it2"]["eo:cloud_cover"] == 20.0 and props["it2"]["stac_collection"] == "s2"
            assert props["it2"]["stac_assets"] == {"cog": files.url("scene2.tif")}
            cmd = ["search", "--index", str(ix), "--query", query, "--k", "50", "--json"]
            assert main([*cmd, "--max-cloud", "0.1"]) == 0  # tile cloud fraction = eo:cloud_cover / 100
            assert {h["geo"]["stac"]["item"] for h in json.loads(capsys.readouterr().out)} == {"it0"}
            assert main([*cmd, "--after", "2020-01-02"]) == 0
            assert {h["geo"]["stac"]["item"] for h in json.loads(capsys.readouterr().out)} == {"it2"}

            # /api/search: the results' geo carries the provenance too
            from fastapi.testclient import TestClient

            from mlrsir.web.app import create_app

            with TestClient(create_app(ix, encoder=PixelHashEncoder(hash_run)), base_url="http://localhost") as client:
                answer = client.post("/api/search", json={"item_id": hits[0]["id"], "k": 50, "attention": False})
                assert answer.status_code == 200, answer.text
                body = answer.json()
            web = {r["geo"]["stac"]["item"]: r["geo"]["stac"] for r in body["results"]}
            assert web["it2"] == it2 and body["query"]["geo"]["stac"]["item"] == hits[0]["geo"]["stac"]["item"]

            # GeoParquet keeps the provenance columns
            pq = pytest.importorskip("pyarrow.parquet")
            out_file = tmp_path / "ix.parquet"
            assert main(["index", "export", "--index", str(ix), "--out", str(out_file)]) == 0
            table = pq.read_table(out_file).to_pylist()
            got = {(r["stac_item"], r["stac_collection"], r["eo:cloud_cover"]) for r in table}
            assert got == {("it0", "s2", 5.0), ("it2", "s2", 20.0)}
            assert {dict(r["stac_assets"])["cog"] for r in table} == {files.url("scene0.tif"), files.url("scene2.tif")}


def test_api_per_band_assets_bbox_datetime_max_items(cogs, hash_run, tmp_path, capsys):
    """Items with one asset per band (keyed red/green/blue) chosen by ``--bands red,green,blue`` equal the
    stacked COG; ``--bbox``, ``--datetime`` and ``--max-items`` bound the search (rustac pages by 1)."""
    need_rustac()
    with RangeServer(cogs) as files:
        hrefs = {b: files.url(f"pb_{b}.tif") for b, _c in BANDS}
        items = [item_dict(n, per_band_assets(hrefs), day=n + 1) for n in range(5)]
        items.append(item_dict(5, per_band_assets(hrefs), lon=10.0))  # elsewhere: outside the bbox
        items.append(item_dict(6, per_band_assets(hrefs), collection="l8"))
        with stac_api(tmp_path / "api", [collection_dict("s2"), collection_dict("l8")], items) as api:
            ix = tmp_path / "ix"
            extra = ["--collections", "s2", "--bbox", "-76,37,-74,39", "--datetime", "2020-01-02/2020-01-31"]
            assert stac_build(hash_run, api.url, ix, *extra, "--bands", "red,green,blue", "--max-items", "3") == 0
            items_seen = {r["geo"]["stac"]["item"] for r in stac_rows(ix)}
            assert items_seen == {"it1", "it2", "it3"}  # it0 too early, it4 past --max-items, it5/it6 not asked
            row = stac_rows(ix)[0]
            assert row["geo"]["bands"] == ["B04", "B03", "B02"] or row["geo"]["bands"] == ["red", "green", "blue"]
            assert row["geo"]["stac"]["assets"] == {c: hrefs[b] for b, c in BANDS}
            stacked = tmp_path / "stacked"
            assert build(hash_run, [cogs / "pb_stack.tif"], stacked, "--tile", TILE) == 0
            window = lambda r: r["path"].rsplit("#", 1)[1]
            it1 = {window(r): r["code"] for r in stac_rows(ix) if r["geo"]["stac"]["item"] == "it1"}
            assert it1 == codes_by(stacked, window)

            # a small page size: the walk follows next links, one page at a time, and stops at max_items
            scenes = StacScenes(StacQuery(api.url, collections=("s2",), max_items=4, page_size=1), log=lambda m: None)
            assert [str(e).rsplit("/", 1)[1] for e in scenes] == ["it0", "it1", "it2", "it3"]
            assert scenes.counts.pages == 4


# ---------------------------------------------------------------------------- static catalogues
def write_static_catalogue(root: Path, hrefs: list[str]) -> Path:
    """catalog.json -> collection.json -> items/it{n}.json, relative links (as pystac writes them)."""
    (root / "s2" / "items").mkdir(parents=True, exist_ok=True)
    cat = {"type": "Catalog", "stac_version": "1.0.0", "id": "root", "description": "d", "links": [
        {"rel": "child", "href": "./s2/collection.json", "type": "application/json"}]}  # fmt: skip
    col = collection_dict("s2")
    col["links"] = [
        {"rel": "item", "href": f"./items/it{n}.json", "type": "application/json"} for n in range(len(hrefs))
    ]
    for n, href in enumerate(hrefs):
        item = item_dict(n, multiband_asset(href), cloud=5.0 * n)
        item["links"] = [{"rel": "collection", "href": "../collection.json"}]
        (root / "s2" / "items" / f"it{n}.json").write_text(json.dumps(item))
    (root / "s2" / "collection.json").write_text(json.dumps(col))
    (root / "catalog.json").write_text(json.dumps(cat))
    return root / "catalog.json"


def test_static_catalogue_local_and_over_http(cogs, hash_run, tmp_path, capsys):
    """A static catalogue walked from disk (asset hrefs relative, inside its folder) and the same one
    over HTTP (served beside the COGs): the same tiles, codes and provenance; a re-run adds nothing."""
    relative = [f"../../scene{n}.tif" for n in range(3)]  # inside the catalogue's folder tree
    catalogue = write_static_catalogue(cogs, relative)
    local = tmp_path / "local"
    assert stac_build(hash_run, str(catalogue), local) == 0
    assert "static Catalog" in capsys.readouterr().out
    rows = stac_rows(local)
    assert {r["geo"]["stac"]["item"] for r in rows} == {"it0", "it1", "it2"}
    assert rows[0]["geo"]["stac"]["assets"]["cog"] == str(cogs / "scene0.tif")
    with RangeServer(cogs) as files:
        url = files.url("catalog.json")
        http = tmp_path / "http"
        assert stac_build(hash_run, url, http, "--max-cloud", "0.07") == 0  # it0 (0 %) and it1 (5 %)
        got = stac_rows(http)
        assert {r["geo"]["stac"]["item"] for r in got} == {"it0", "it1"}
        assert got[0]["path"].startswith(files.url("s2/items/it0.json") + "#")
        assert got[0]["geo"]["stac"]["assets"]["cog"] == files.url("scene0.tif")
        window = lambda r: (r["geo"]["stac"]["item"], r["path"].rsplit("#", 1)[1])
        assert codes_by(http, window) == {k: v for k, v in codes_by(local, window).items() if k[0] != "it2"}
        capsys.readouterr()
        add = ["index", "add", "--index", str(http), "--stac", url, "--max-cloud", "0.07", "--tile", str(TILE)]
        assert main([*add, "--quiet"]) == 0
        assert "added 0 tiles of 2 scene(s)" in capsys.readouterr().out
        # a tile of an Item read over HTTP works as a query (the Item is read again from its URL)
        assert main(["search", "--index", str(http), "--query", got[0]["path"], "--k", "1", "--json"]) == 0
        hit = json.loads(capsys.readouterr().out)[0]
        assert (hit["path"], hit["distance"]) == (got[0]["path"], 0)


# ---------------------------------------------------------------------------- faults
class _BrokenApi:
    """A tiny STAC API whose first search page holds 1 Item and links a second page that is not JSON."""

    def __init__(self, item: dict, landing_ok: bool = True, conforms: tuple[str, ...] = ()):
        self.item, self.landing_ok, self.conforms = item, landing_ok, list(conforms)
        self.requests: list[tuple[str, str]] = []  # (path with query string, body)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, body: str, status: int = 200):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self, body: str = ""):
                api.requests.append((self.path, body))
                if self.path.startswith("/page2"):
                    return self._send("<html>502 Bad Gateway</html> {not json")
                if self.path == "/":
                    if not api.landing_ok:
                        return self._send('{"type": "Catalog", "links": ')
                    return self._send(json.dumps({
                        "type": "Catalog", "id": "broken", "stac_version": "1.0.0", "description": "d",
                        "conformsTo": ["https://api.stacspec.org/v1.0.0/core",
                                       "https://api.stacspec.org/v1.0.0/item-search", *api.conforms],
                        "links": [{"rel": "search", "href": f"{api.url}/search", "method": "GET",
                                   "type": "application/geo+json"},
                                  {"rel": "self", "href": f"{api.url}/"}],
                    }))  # fmt: skip
                return self._send(json.dumps({
                    "type": "FeatureCollection", "features": [api.item],
                    "links": [{"rel": "next", "href": f"{api.url}/page2?token=x", "method": "GET"}],
                }))  # fmt: skip

            def do_POST(self):
                self.do_GET(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

        return Handler


def test_malformed_page_is_named_and_nothing_stored_is_lost(cogs, hash_run, tmp_path, capsys):
    with RangeServer(cogs) as files:
        ix = tmp_path / "ix"
        assert build(hash_run, [cogs / "scene3.tif"], ix, "--tile", TILE) == 0
        before = {r["path"]: r["code"] for r in stac_rows(ix)}
        item = item_dict(0, multiband_asset(files.url("scene0.tif")))
        with _BrokenApi(item) as api:
            capsys.readouterr()
            add = ["index", "add", "--index", str(ix), "--stac", api.url, "--tile", str(TILE), "--quiet"]
            assert main(add) == 3  # page 1 indexed, page 2 failed
            out = capsys.readouterr().out
            assert f"{api.url}/page2?token=x: STAC API page is not JSON" in out
            after = {r["path"]: r["code"] for r in stac_rows(ix)}
            assert {p: c for p, c in after.items() if p in before} == before  # nothing stored is lost
            assert sum(1 for p in after if "/items/it0#" in p) == (SIDE // TILE) ** 2
            assert main(add) == 3 and len(stac_rows(ix)) == len(after)  # a re-run adds nothing twice
        with _BrokenApi(item, landing_ok=False) as api:
            capsys.readouterr()
            assert stac_build(hash_run, api.url, tmp_path / "new") == 2
            err = capsys.readouterr().err
            assert f"{api.url}: STAC catalogue is not JSON" in err
            assert not (tmp_path / "new").exists()  # refused before an index is made
    assert main(["index", "add", "--index", str(ix), "--collections", "s2", "--images", str(cogs / "scene3.tif")]) == 2
    assert "--collections: only with --stac URL" in capsys.readouterr().err


def test_cloud_filter_is_sent_where_the_api_conforms(tmp_path):
    """An API conforming to the Query extension gets ``eo:cloud_cover <= 100 F`` in the search; one
    conforming to Filter gets it as CQL2; the Items are checked on the client all the same."""
    cloudy = item_dict(0, {}, cloud=80.0)  # the fake ignores the filter: the client drops the Item
    query_ext = "https://api.stacspec.org/v1.0.0/item-search#query"
    filter_ext = "https://api.stacspec.org/v1.0.0/item-search#filter"
    for conforms, expected in ((query_ext, '"lte":30.0'), (filter_ext, "<=")):
        with _BrokenApi(cloudy, conforms=(conforms,)) as api:
            scenes = StacScenes(StacQuery(api.url, max_cloud=0.3), log=lambda m: None)
            with pytest.raises(DataError, match=r"/page2\?token=x: STAC API page is not JSON"):
                list(scenes)
            search = [(unquote(p) + b).replace(" ", "") for p, b in api.requests if p.startswith("/search")]
            assert search and expected in search[0] and "eo:cloud_cover" in search[0], search
            assert scenes.counts.skipped == {"cloud": 1} and scenes.counts.yielded == 0
    with _BrokenApi(cloudy) as api:  # no extension: nothing sent, still checked
        scenes = StacScenes(StacQuery(api.url, max_cloud=0.3), log=lambda m: None)
        with pytest.raises(DataError):
            list(scenes)
        assert all("cloud" not in unquote(p) + b for p, b in api.requests) and scenes.counts.skipped == {"cloud": 1}


def test_multiband_asset_without_eo_bands_takes_the_band_descriptions(cogs):
    """One COG asset without ``eo:bands``: its bands are named by the raster's descriptions (B04 ...),
    ``cog_1`` ... as aliases, so ``--bands B04,B03,B02`` and ``cog_1,cog_2,cog_3`` pick the same."""
    item = item_dict(0, {"cog": {"href": "./scene0.tif", "type": "image/tiff; application=geotiff"}})
    (cogs / "it0.json").write_text(json.dumps(item))
    entries = list(StacScenes(StacQuery(str(cogs / "it0.json")), log=lambda m: None))
    scene = entries[0].open_scene()
    assert scene.band_names == ["B04", "B03", "B02"] and [b.aliases for b in scene.bands][0] == ("cog_1",)
    assert [b.index for b in scene.select("cog_3,cog_2,cog_1")] == [3, 2, 1]
    assert scene.provenance["assets"] == {"cog": str(cogs / "scene0.tif")} and scene.provenance["cloud_cover"] == 10


# ---------------------------------------------------------------------------- many Items, bounded memory
def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def _measured_build(run, url, index, count, conn) -> None:
    """In a forked child: the ingest of ``count`` Items; sends (tracemalloc peak bytes, peak RSS
    growth KiB over the RSS at the start, exit status)."""
    import mlrsir.geo.stac_search as stac_search

    stac_search.PAGE_SIZE = 10
    rss0 = _rss_kib()
    tracemalloc.start()
    status = stac_build(run, url, index, "--max-items", count)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    conn.send((peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0, status))
    conn.close()


def test_many_items_stream_with_bounded_memory(hash_run, tmp_path, capsys):
    """60 Items (one 256 px COG each, 4 tiles) from the real STAC API, paged by 10: every tile stored once,
    and the ingest of 60 Items (in a forked child, so its peak RSS is its own) needs no more memory than
    that of 10 Items (Python-traced peak within 1.5x + 4 MiB; peak RSS growth within 1.5x + 32 MiB): no
    Item's pixels are held after its tiles, and the search is read page by page."""
    need_rustac()
    if not hasattr(os, "fork"):
        pytest.skip("needs fork() to measure a child's peak RSS")
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(60):
        write_cog(folder / f"m{n}.tif", scene_data(1000 + n), transform_of(n), names=[b for b, _c in BANDS])
    peaks = {}
    ctx = multiprocessing.get_context("fork")
    with RangeServer(folder) as files:
        items = [item_dict(n, multiband_asset(files.url(f"m{n}.tif")), day=1 + n % 28) for n in range(60)]
        with stac_api(tmp_path / "api", [collection_dict("s2")], items) as api:
            for count in (10, 60):
                ix = tmp_path / f"ix{count}"
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_measured_build, args=(hash_run, api.url, ix, count, child))
                proc.start()
                child.close()
                assert parent.poll(120), "the measured ingest did not finish"
                peaks[count] = parent.recv()
                proc.join(timeout=30)
                assert peaks[count][2] == 0
                paths = [r["path"] for r in stac_rows(ix)]
                assert len(paths) == len(set(paths)) == 4 * count
    pixels = 60 * 3 * SIDE * SIDE * 2
    (t10, r10, _), (t60, r60, _) = peaks[10], peaks[60]
    capsys.readouterr()
    print(
        f"\nmemory of a STAC ingest: 10 Items: traced peak {t10 / 2**20:.1f} MiB, peak RSS +{r10 / 1024:.1f} MiB; "
        f"60 Items: traced peak {t60 / 2**20:.1f} MiB, peak RSS +{r60 / 1024:.1f} MiB "
        f"(the 60 Items' pixels: {pixels / 2**20:.1f} MiB)"
    )
    assert t60 <= 1.5 * t10 + 4 * 2**20, peaks
    assert r60 <= 1.5 * r10 + 32 * 1024, peaks
