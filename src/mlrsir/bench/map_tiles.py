"""``mlrsir bench map-tiles``: latency of the map tiles of a scene beside its quick-look.

``mlrsir bench map-tiles (--index PATH [--run-dir RUN] | --url URL) [--zoom 13] [--rounds 20]``
starts ``mlrsir serve --index PATH`` on a free 127.0.0.1 port (or uses the server at
``--url``), takes the first scene of ``GET /api/scenes`` (or ``--scene ID``) and every Web
Mercator tile of zoom ``--zoom`` that meets its footprint's lon/lat box, then times, one
request at a time over HTTP (:mod:`http.client`, a new connection per request):

- ``tile_first``: the first request of each tile (rendered by rio-tiler; the scene's files
  and overviews enter GDAL's block cache as the tiles are read);
- ``tile_warm``: ``--rounds`` more passes over the same tiles (answered from the server's
  tile cache);
- ``quicklook_first`` / ``quicklook_warm``: the scene's quick-look, once and then
  ``--rounds`` times.

Reported per row: requests, p50, p95 and max in ms, and the PNG bytes of the first answer.
"""

from __future__ import annotations

import json
import math
import time

from mlrsir.bench.load import percentile
from mlrsir.bench.server import add_served_index_options, http_get, served_index, started_server
from mlrsir.errors import ConfigError


def register(sub) -> None:
    """Add ``map-tiles`` to the ``mlrsir bench`` sub-commands."""
    p = sub.add_parser("map-tiles", help="map tile and quick-look request latency of a scene against `mlrsir serve`")
    add_served_index_options(p, url=True)
    p.add_argument("--scene", help="scene id (default: the first of /api/scenes)")
    p.add_argument("--zoom", type=int, default=13, help="zoom level of the tiles (default 13)")
    p.add_argument("--rounds", type=int, default=20, help="warm passes over the tiles and the quick-look")
    p.set_defaults(func=run)


def lonlat_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """``(x, y)`` of the Web Mercator tile of zoom ``z`` holding ``(lon, lat)`` (OSM numbering)."""
    n = 1 << z
    lat = max(-85.0511287798, min(85.0511287798, lat))
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def footprint_tiles(geometry: dict, z: int) -> list[tuple[int, int]]:
    """Tiles ``(x, y)`` of zoom ``z`` meeting the lon/lat box of a (Multi)Polygon geometry
    (a box crossing the antimeridian is not split: benchmark scenes do not cross it)."""
    rings = geometry["coordinates"] if geometry["type"] == "Polygon" else [p[0] for p in geometry["coordinates"]]
    lons = [p[0] for ring in rings for p in ring]
    lats = [p[1] for ring in rings for p in ring]
    x0, y0 = lonlat_tile(min(lons), max(lats), z)
    x1, y1 = lonlat_tile(max(lons), min(lats), z)
    return [(x, y) for y in range(y0, y1 + 1) for x in range(x0, x1 + 1)]


def _timed_get(url: str, path: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    status, body = http_get(url, path, timeout=60.0)
    ms = (time.perf_counter() - t0) * 1000
    if status != 200:
        raise ConfigError(f"{url}{path}: HTTP {status}: {body[:200]!r}")
    return ms, len(body)


def _row(name: str, times: list[float], size: int) -> dict:
    return {
        "row": name,
        "requests": len(times),
        "p50_ms": percentile(times, 50),
        "p95_ms": percentile(times, 95),
        "max_ms": max(times),
        "png_bytes": size,
    }


def measure(url: str, zoom: int = 13, rounds: int = 20, scene: str | None = None) -> dict:
    """The report of the module docstring for the server at ``url``."""
    status, body = http_get(url, "/api/scenes", timeout=60.0)
    if status != 200:
        raise ConfigError(f"{url}/api/scenes: HTTP {status}")
    features = [f for f in json.loads(body)["features"] if f["geometry"] and (scene is None or f["id"] == scene)]
    if not features:
        raise ConfigError(f"{url}: no readable scene {scene!r}" if scene else f"{url}: the index holds no scene")
    feature = features[0]
    sid = feature["id"]
    tiles = footprint_tiles(feature["geometry"], zoom)
    paths = [f"/api/scenes/{sid}/tiles/{zoom}/{x}/{y}.png" for x, y in tiles]
    first = [_timed_get(url, p) for p in paths]
    warm = [_timed_get(url, p)[0] for _ in range(rounds) for p in paths]
    quicklook = f"/api/scenes/{sid}/quicklook.png"
    q_first, q_size = _timed_get(url, quicklook)
    q_warm = [_timed_get(url, quicklook)[0] for _ in range(rounds)]
    return {
        "scene": sid,
        "zoom": zoom,
        "tiles": len(tiles),
        "rounds": rounds,
        "rows": [
            _row("tile_first", [t for t, _ in first], first[0][1]),
            _row("tile_warm", warm, first[0][1]),
            _row("quicklook_first", [q_first], q_size),
            _row("quicklook_warm", q_warm, q_size),
        ],
    }


def to_markdown(result: dict) -> str:
    lines = [
        f"Scene {result['scene']}: {result['tiles']} tiles at zoom {result['zoom']}, {result['rounds']} warm rounds",
        "",
        "| request | n | p50 ms | p95 ms | max ms | PNG bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['row']} | {r['requests']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['max_ms']:.1f} | "
            f"{r['png_bytes']} |"
        )
    return "\n".join(lines) + "\n"


def run(args) -> int:
    if (args.index is None) == (args.url is None):
        raise ConfigError("bench map-tiles: give --index PATH or --url URL (one of them)")
    if not 0 <= args.zoom <= 24 or args.rounds < 1:
        raise ConfigError("bench map-tiles: --zoom must lie in 0..24 and --rounds be >= 1")
    if args.url:
        result = measure(args.url.rstrip("/"), args.zoom, args.rounds, args.scene)
    else:
        command, env = served_index(args)
        with started_server(command, args.start_timeout, env=env) as server:
            result = measure(server.url, args.zoom, args.rounds, args.scene)
    print(json.dumps(result, indent=2) if args.json else to_markdown(result), end="\n" if args.json else "")
    return 0
