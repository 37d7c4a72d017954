"""Peak RSS and tiles/s of tiling a Sentinel-2 scene and a 4x larger 2x2 mosaic of it.

Usage::

    mlrsir bench scene-rss [SCENE_DIR] [--bands all] [--tile 256] [--cache-mb 64]

Each measurement runs in a fresh subprocess (``--child``) that imports everything,
records its RSS, tiles the scene once (every tile's array is touched and dropped) and
reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak RSS, KiB on Linux). The mosaic
is written with rasterio into a temporary folder: every band file repeated 2 x 2 (same
origin, twice the width and height; tiled GeoTIFF, written block row by block row), so the
20/60 m grid offsets are kept. ``GDAL_CACHEMAX`` is set in the children to ``--cache-mb``
(GDAL's block cache is process-wide and would otherwise grow up to 5% of RAM).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlrsir.bench.process_memory import rss_mib
from mlrsir.geo.scene import open_scene
from mlrsir.geo.tiling import SceneTiler

DEFAULT_SCENE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "geo" / "sentinel2-l1c-T18SVG-20160112"


def child(scene_dir: str, bands: str, tile: int) -> dict:
    """Tile once in this process; returns tiles, seconds, RSS before and peak (KiB)."""
    import numpy as np  # noqa: F401, PLC0415 (loaded before the RSS baseline is read)

    scene = open_scene(scene_dir)
    tiler = SceneTiler(scene, None if bands == "all" else bands, tile=tile)
    before = round((rss_mib() or 0.0) * 1024)  # KiB, as /proc gives it
    t0 = time.perf_counter()
    checksum = 0
    for _info, arr in tiler:
        checksum += int(arr[:, 0, 0].sum())
    seconds = time.perf_counter() - t0
    g = tiler.grid
    return {
        "scene": scene_dir,
        "size": [g.width, g.height],
        "bands": len(tiler.bands),
        "tiles": tiler.yielded,
        "skipped": tiler.skipped,
        "seconds": seconds,
        "tiles_per_s": tiler.yielded / seconds,
        "rss_before_tiling_kib": before,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def make_mosaic(scene_dir: Path, out_dir: Path) -> Path:
    """Write a 2x2 mosaic of every band file of ``scene_dir`` into ``out_dir``; returns it."""
    import rasterio  # noqa: PLC0415 (rasterio only on this path)
    from rasterio.windows import Window  # noqa: PLC0415 (rasterio only on this path)

    scene = open_scene(scene_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for band in scene.bands:
        with rasterio.open(band.path) as src:
            data = src.read(1)
            profile = src.profile.copy()
        h, w = data.shape
        profile.update(width=2 * w, height=2 * h, tiled=True, blockxsize=256, blockysize=256, compress="deflate")
        with rasterio.open(out_dir / f"mosaic_{band.name}.tif", "w", **profile) as dst:
            for r in range(2):
                for c in range(2):
                    dst.write(data, 1, window=Window(c * w, r * h, w, h))
    return out_dir


def run(scene_dir: Path, bands: str = "all", tile: int = 256, cache_mb: int = 64) -> list[dict]:
    env = {**os.environ, "GDAL_CACHEMAX": str(cache_mb)}
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    results = []
    with tempfile.TemporaryDirectory(prefix="mlrsir-mosaic-") as tmp:
        mosaic = make_mosaic(Path(scene_dir), Path(tmp) / "mosaic")
        for target in (Path(scene_dir), mosaic):
            cmd = [
                sys.executable,
                "-m",
                "mlrsir.bench.scene_rss",
                "--child",
                str(target),
                "--bands",
                bands,
                "--tile",
                str(tile),
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``mlrsir bench scene-rss`` (and of the ``--child`` runs)."""
    p.add_argument("scene", nargs="?", default=str(DEFAULT_SCENE.resolve()), help="scene folder (Sentinel-2 bands)")
    p.add_argument("--bands", default="all", help="bands to tile (comma list or all)")
    p.add_argument("--tile", type=int, default=256, help="tile side in pixels")
    p.add_argument("--cache-mb", type=int, default=64, help="GDAL_CACHEMAX of the measured processes")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)


def report(scene: str, bands: str, tile: int, cache_mb: int, child_run: bool = False) -> int:
    """Run the benchmark and print one line per scene (``child_run``: one measurement as JSON)."""
    if child_run:
        print(json.dumps(child(scene, bands, tile)))
        return 0
    for r in run(Path(scene), bands, tile, cache_mb):
        w, h = r["size"]
        print(
            f"{w}x{h} px, {r['bands']} bands, tile {tile}: {r['tiles']} tiles ({r['skipped']} skipped) in "
            f"{r['seconds']:.2f} s = {r['tiles_per_s']:.1f} tiles/s; RSS before tiling "
            f"{r['rss_before_tiling_kib'] / 1024:.1f} MiB, peak {r['peak_rss_kib'] / 1024:.1f} MiB"
        )
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(p)
    a = p.parse_args(argv)
    return report(a.scene, a.bands, a.tile, a.cache_mb, child_run=a.child)


if __name__ == "__main__":
    raise SystemExit(main())
