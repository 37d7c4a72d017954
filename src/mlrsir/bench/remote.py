"""``mlrsir bench remote``: ingest of a COG read locally, over HTTP and from S3, in one run.

Usage::

    mlrsir bench remote [--scene DIR] [--tile 128] [--repeats 3] [--io-workers 0 1 4] [--items 10 50]
        [--cache-mb 64] [--json]

What is measured (servers on 127.0.0.1, started and stopped here):

* **tiles/s** of ``index`` ingest (:func:`mlrsir.index.scenes.encode_scenes_into_index`, the
  path of ``index build``) of one COG: from the local file, over HTTP (the Range server
  :class:`mlrsir.bench.range_server.RangeServer`) and from S3 (moto's server,
  :class:`mlrsir.bench.s3_server.S3Server`; left out with the reason when moto or boto3 is
  missing); median of ``--repeats`` runs, each on a URL GDAL has not cached yet. The encoder is a
  hashing stand-in (32 bits of the sha256 of a tile's RGB pixels), so reading dominates and
  equal codes mean equal pixels; the ratio remote / local is the target (>= 0.7);
* the same over HTTP with ``--latency-ms`` added to every request (a network round trip: what
  concurrent readers, ``--io-workers``, are for; loopback alone has none);
* **identical codes**: every tile's code over HTTP and S3 against the local one;
* **bytes for a quarter**: the tiles of the scene's top-left quarter read over HTTP, bytes
  counted at the server, as a fraction of the file (target <= 40 %);
* **peak RSS against the number of scene items**: an ingest of ``--items`` (e.g. 10 and 50)
  small generated COGs (512 x 512 px, 16 tiles each) over HTTP, each count in a fresh
  subprocess (``ru_maxrss``), with ``--io-workers`` readers (target: bounded, i.e. not
  growing with the item count).

The COG: bands B04, B03, B02 of the shared Sentinel-2 scene (``--scene``, 1933 x 1947 px)
written as one 3-band COG (128 px blocks, deflate, overviews), or a generated 2048 x 2048 px
scene when the folder is absent (said in the output).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlrsir.bench.machine import load_average, load_sentence
from mlrsir.bench.range_server import RangeServer
from mlrsir.bench.scene_rss import DEFAULT_SCENE

BITS = 32
BLOCK = 128


class PixelHashEncoder:
    """A stand-in encoder: 32 bits of the sha256 of each image's RGB pixels (``bits``, ``encode_images``)."""

    bits = BITS

    def encode_images(self, images) -> tuple[np.ndarray, np.ndarray]:
        codes = [
            np.unpackbits(np.frombuffer(hashlib.sha256(np.asarray(im.convert("RGB")).tobytes()).digest()[:4], np.uint8))
            for im in images
        ]
        out = np.stack(codes).astype(np.uint8)
        return out, out.astype(np.float32) - 0.5


def write_cog(
    path: Path, data: np.ndarray, transform, crs="EPSG:32618", names: Sequence[str] = ("B04", "B03", "B02")
) -> Path:
    """``data`` (B, H, W) uint16 as a COG (``BLOCK`` px blocks, deflate, overviews), its bands
    described by ``names`` (none when empty)."""
    import rasterio  # noqa: PLC0415 (rasterio only on this path)

    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype="uint16",
        crs=crs,
        transform=transform,
        compress="deflate",
        blocksize=BLOCK,
    ) as dst:
        dst.write(data)
        for i, name in enumerate(names, 1):
            dst.set_band_description(i, name)
    return path


def generated(side: int, seed: int) -> np.ndarray:
    """``(3, side, side)`` uint16: smooth gradients plus noise, values 300 .. 4000."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    base = 300 + 3000 * (np.sin(xx / 40.0 + seed) * np.cos(yy / 55.0) + 1) / 2
    return np.stack([base + rng.integers(0, 700, base.shape) * k for k in (1.0, 0.8, 0.6)]).astype(np.uint16)


def scene_cog(folder: Path, scene_dir: Path) -> tuple[Path, str]:
    """The benchmark's COG and what it was made from."""
    import rasterio  # noqa: PLC0415 (rasterio only on this path)
    from affine import Affine  # noqa: PLC0415 (rasterio's dependency)

    bands = Path(scene_dir) / "bands"
    if (bands / "s2_B04.tif").is_file():
        planes = []
        for name in ("B04", "B03", "B02"):
            with rasterio.open(bands / f"s2_{name}.tif") as ds:
                planes.append(ds.read(1))
                transform, crs = ds.transform, ds.crs
        path = write_cog(folder / "S2A_T18SVG_20160112.tif", np.stack(planes), transform, crs)
        return path, f"Sentinel-2 scene {scene_dir.name} (B04,B03,B02, {planes[0].shape[1]} x {planes[0].shape[0]} px)"
    data = generated(2048, 0)
    path = write_cog(folder / "generated_20200101.tif", data, Affine(10, 0, 500000, 0, -10, 4000000), "EPSG:32618")
    return path, f"generated 2048 x 2048 px scene ({scene_dir} not found)"


def ingest(scenes: list[str], index_dir: Path, tile: int, io_workers: int) -> tuple[dict, dict[str, bytes]]:
    """Ingest ``scenes`` into a new index; ``(summary, {window: code bytes})``."""
    from mlrsir.index.scenes import encode_scenes_into_index  # noqa: PLC0415 (the index: loaded when run)
    from mlrsir.index.store import CodeIndex  # noqa: PLC0415 (the index: loaded when run)

    index = CodeIndex.create(index_dir, bits=BITS, fingerprint={"bench": "pixel-hash"}, run_dir=None, classes=None)
    with index:
        summary = encode_scenes_into_index(
            index, PixelHashEncoder(), scenes, tile=tile, progress=False, log=lambda _m: None, io_workers=io_workers
        )
        codes = {row["path"].rsplit("#", 1)[1]: bytes(row["code"]) for row in index.iter_items()}
    return summary, codes


def timed(make_url, tmp: Path, tag: str, tile: int, io_workers: int, repeats: int) -> dict:
    """Median tiles/s of ``repeats`` ingests of ``make_url(i)`` (a URL not read before each time)."""
    rates, codes, failed = [], None, []
    for i in range(repeats):
        summary, codes = ingest([make_url(i)], tmp / f"{tag}-{i}", tile, io_workers)
        failed += summary["failed"]
        rates.append(summary["tiles_added"] / summary["seconds"] if summary["seconds"] > 0 else 0.0)
    return {"tiles_per_s": statistics.median(rates), "runs": rates, "codes": codes, "failed": failed}


def quarter_bytes(server: RangeServer, name: str, url: str, tile: int, size: int, side: tuple[int, int]) -> dict:
    """Bytes the server sends to read the tiles of the top-left quarter of the scene."""
    from mlrsir.geo.archive import read_tile  # noqa: PLC0415 (rasterio only on this path)
    from mlrsir.geo.radiometry import SENTINEL2_L1C  # noqa: PLC0415 (rasterio only on this path)

    server.reset()
    width, height = side
    count = 0
    for row in range(0, height // 2 - tile + 1, tile):
        for col in range(0, width // 2 - tile + 1, tile):
            read_tile(url, (col, row, tile, tile), None, SENTINEL2_L1C)
            count += 1
    return {"tiles": count, "bytes": server.bytes_sent, "file_bytes": size, "fraction": server.bytes_sent / size}


def rss_child(urls: list[str], tile: int, io_workers: int) -> dict:
    """In a fresh process: ingest ``urls``; RSS before, the peak during the ingest (``VmHWM`` reset
    first, so the start-up's imports do not count; else the process's ``ru_maxrss``) and the
    process's whole peak (MiB)."""
    from mlrsir.bench.process_memory import peak_rss_mib, reset_peak, rss_mib  # noqa: PLC0415 (light)
    from mlrsir.index.scenes import encode_scenes_into_index  # noqa: F401, PLC0415 (imported before the baseline)

    before = rss_mib() or 0.0
    whole = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reset = reset_peak("self")
    with tempfile.TemporaryDirectory() as tmp:
        summary, _codes = ingest(urls, Path(tmp) / "ix", tile, io_workers)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak = (peak_rss_mib() if reset else None) or after
    return {
        "items": len(urls),
        "tiles": summary["tiles_added"],
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "peak_reset": reset,
        "process_peak_mib": max(whole, after),
    }


def rss_by_items(folder: Path, counts: list[int], tile: int, io_workers: int) -> list[dict]:
    """Peak RSS of ingests of ``counts`` generated COGs over HTTP, each in a subprocess."""
    import rasterio  # noqa: F401, PLC0415 (rasterio only on this path)
    from affine import Affine  # noqa: PLC0415 (rasterio's dependency)

    items = folder / "items"
    items.mkdir()
    for i in range(max(counts)):
        transform = Affine(10, 0, 500000 + 5120 * i, 0, -10, 4000000)
        write_cog(items / f"item{i:03d}_20200101.tif", generated(512, i + 1), transform, "EPSG:32618")
    out = []
    with RangeServer(items) as server:
        for n in counts:
            urls = [server.url(f"item{i:03d}_20200101.tif") + f"?n={n}" for i in range(n)]
            cmd = [sys.executable, "-m", "mlrsir", "bench", "remote", "--child-rss", json.dumps(urls)]
            cmd += ["--tile", str(tile), "--rss-io-workers", str(io_workers), "--cache-mb", os.environ["GDAL_CACHEMAX"]]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ))
            if done.returncode != 0:
                raise RuntimeError(f"RSS child failed: {done.stderr[-2000:]}")
            out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def run(
    scene_dir: Path,
    tile: int,
    repeats: int,
    workers: list[int],
    items: list[int],
    cache_mb: int,
    latency_ms: float,
    rss_workers: int = 1,
) -> dict:
    """Every figure of the module doc, in one dict (a row per source and ``--io-workers`` value)."""
    import rasterio  # noqa: PLC0415 (rasterio only on this path)

    os.environ.setdefault("GDAL_CACHEMAX", str(cache_mb))
    result: dict = {"tile": tile, "workers": workers, "repeats": repeats, "load_average": load_average()}
    result["gdal_cachemax_mb"] = os.environ["GDAL_CACHEMAX"]
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        served = tmp / "served"
        served.mkdir()
        cog, made_from = scene_cog(served, scene_dir)
        size = cog.stat().st_size
        with rasterio.open(cog) as ds:
            side = (ds.width, ds.height)
        result.update(scene=made_from, file_bytes=size, size=list(side))
        rows: dict[str, dict] = {}
        for n in workers:
            rows[f"local, io-workers {n}"] = timed(lambda i: str(cog), tmp, f"local{n}", tile, n, repeats)
        with RangeServer(served) as server:
            for n in workers:
                server.reset()
                url = server.url(cog.name)
                row = timed(lambda i, n=n, url=url: f"{url}?w={n}&run={i}", tmp, f"http{n}", tile, n, repeats)
                row["bytes_per_ingest"] = server.bytes_sent / repeats
                rows[f"http, io-workers {n}"] = row
            result["quarter"] = quarter_bytes(server, cog.name, server.url(cog.name) + "?quarter", tile, size, side)
        if latency_ms > 0:
            with RangeServer(served, latency=latency_ms / 1000) as slow:
                for n in workers:
                    url = slow.url(cog.name)
                    row = timed(lambda i, n=n, url=url: f"{url}?w={n}&run={i}", tmp, f"slow{n}", tile, n, repeats)
                    rows[f"http +{latency_ms:g} ms/request, io-workers {n}"] = row
        for n in workers:
            rows[f"s3, io-workers {n}"] = s3_row(cog, tmp, tile, n, repeats)
        for name, row in rows.items():
            n = int(name.rsplit(" ", 1)[1])
            local = rows[f"local, io-workers {n}"]
            if "codes" in row:
                row["codes_identical"] = row["codes"] == local["codes"] and not row["failed"]
                row["ratio"] = row["tiles_per_s"] / local["tiles_per_s"] if local["tiles_per_s"] else 0.0
        for row in rows.values():
            row["tiles"] = len(row.pop("codes", {}))
        result["sources"] = rows
        result["rss_io_workers"] = rss_workers
        result["rss"] = rss_by_items(tmp, items, tile, rss_workers) if items else []
    result["load_average_end"] = load_average()
    return result


def s3_row(cog: Path, tmp: Path, tile: int, io_workers: int, repeats: int) -> dict:
    """The S3 timing, or ``{"skipped": reason}`` without moto / boto3."""
    try:
        import boto3  # noqa: F401, PLC0415 (remote extra)
        import moto.server  # noqa: F401, PLC0415 (test extra)
    except ImportError as exc:
        return {"skipped": f"moto[server] and boto3 are needed ({exc})"}
    from mlrsir.bench.s3_server import S3Server  # noqa: PLC0415 (imports moto)

    objects = {f"bench/run{i}/{cog.name}": cog for i in range(repeats)}
    with S3Server("bench", objects) as s3, _environment(s3.gdal_env()):
        return timed(
            lambda i: f"s3://bench/bench/run{i}/{cog.name}", tmp, f"s3-{io_workers}", tile, io_workers, repeats
        )


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    """The variables set for the block, the previous ones back after it."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def to_markdown(result: dict) -> str:
    """The figures as Markdown tables."""
    load = load_sentence(result["load_average"], result.get("load_average_end"))
    lines = [
        f"# mlrsir bench remote ({result['scene']}, {result['file_bytes'] / 1e6:.1f} MB COG, "
        f"tiles of {result['tile']} px, median of {result['repeats']}, "
        f"GDAL_CACHEMAX {result['gdal_cachemax_mb']} MB, {os.cpu_count()} CPU cores)",
        "",
        f"{load} (other processes share the machine; the servers run in this process). "
        "Ratios compare with the local row of the same --io-workers.",
        "",
        "| source | tiles | tiles/s | x local (same io-workers) | codes identical to local | bytes / file | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in result["sources"].items():
        if "skipped" in row:
            lines.append(f"| {name} | - | - | - | - | skipped: {row['skipped']} |")
            continue
        runs = " ".join(f"{r:.0f}" for r in row["runs"])
        same = "yes" if row.get("codes_identical", True) else "NO"
        ratio = f"{row['ratio']:.2f}" if "ratio" in row else "-"
        fetched = f"{row['bytes_per_ingest'] / result['file_bytes']:.0%}" if "bytes_per_ingest" in row else "-"
        lines.append(f"| {name} | {row['tiles']} | {row['tiles_per_s']:.0f} | {ratio} | {same} | {fetched} | {runs} |")
    q = result["quarter"]
    lines += [
        "",
        f"Top-left quarter ({q['tiles']} tiles) over HTTP: {q['bytes'] / 1e6:.2f} MB of {q['file_bytes'] / 1e6:.1f} MB "
        f"({q['fraction']:.0%} of the file; target <= 40 %)",
    ]
    if result["rss"]:
        lines += [
            "",
            f"| items over HTTP (io-workers {result['rss_io_workers']}) | tiles | RSS before (MiB) "
            "| peak RSS during the ingest (MiB) | process peak incl. start-up (MiB) |",
            "|---|---|---|---|---|",
        ]
        for r in result["rss"]:
            lines.append(
                f"| {r['items']} | {r['tiles']} | {r['rss_before_mib']:.0f} | {r['peak_rss_mib']:.0f}"
                f"{'' if r['peak_reset'] else ' (VmHWM not resettable: process peak)'} | {r['process_peak_mib']:.0f} |"
            )
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scene", type=Path, default=DEFAULT_SCENE, help="Sentinel-2 folder (default: the shared one)")
    p.add_argument("--tile", type=int, default=128, help="tile side in px (default 128)")
    p.add_argument("--repeats", type=int, default=3, help="runs per source, median reported (default 3)")
    p.add_argument(
        "--io-workers", type=int, nargs="+", default=[0, 1, 4], help="tile reader threads, one row each (default 0 1 4)"
    )
    p.add_argument(
        "--latency-ms", type=float, default=20.0, help="round trip added per request in the slow HTTP rows (default 20)"
    )
    p.add_argument("--cache-mb", type=int, default=64, help="GDAL_CACHEMAX in MB unless set (default 64)")
    p.add_argument("--items", type=int, nargs="*", default=[10, 50], help="item counts of the RSS runs (default 10 50)")
    p.add_argument(
        "--rss-io-workers", type=int, default=1, help="--io-workers of the RSS runs (default 1, as index build)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--child-rss", help=argparse.SUPPRESS)


def main(args) -> int:
    if args.child_rss:
        os.environ.setdefault("GDAL_CACHEMAX", str(args.cache_mb))
        print(json.dumps(rss_child(json.loads(args.child_rss), args.tile, args.rss_io_workers)))
        return 0
    t0 = time.perf_counter()
    result = run(
        args.scene,
        args.tile,
        args.repeats,
        list(args.io_workers),
        list(args.items),
        args.cache_mb,
        args.latency_ms,
        args.rss_io_workers,
    )
    result["seconds"] = time.perf_counter() - t0
    print(json.dumps(result, indent=2) if args.json else to_markdown(result))
    return 0
