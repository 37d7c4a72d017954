"""Issue 24 items 1, 4 and 20 on the ingest pipeline.

* a tiny sparse GeoTIFF declaring 200000 x 200000 px (one 512 px block written) is indexed
  at ``--tile 16`` in bounded memory (the child's RSS is watched and it is killed above
  the bound) and a query window larger than :data:`mlrsir.geo.tiling.MAX_TILE_SIDE` is
  refused with a clear error;
* non-finite pixels (NaN, inf) are nodata: tiles without a finite pixel are empty and
  skipped, and no numpy RuntimeWarning is raised;
* two ``index add`` of the same folder at once: both succeed, every path once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import fake_encoder, make_run, write_image  # noqa: F401

from ..geo.test_index_scenes import PixelHashEncoder, build

REPO = Path(__file__).resolve().parents[2]
RSS_LIMIT_KIB = 1024 * 1024  # 1 GiB
GIANT = 200_000
BLOCK = 512


def _write_sparse_giant(path: Path) -> Path:
    """200000 x 200000 px, 3-band uint16, tiled 512 px, SPARSE_OK: one block written at
    block (2, 1) (pixels 1024..1535 x 512..1023), random values 1..4000 (never 0)."""
    profile = dict(
        driver="GTiff",
        width=GIANT,
        height=GIANT,
        count=3,
        dtype="uint16",
        tiled=True,
        blockxsize=BLOCK,
        blockysize=BLOCK,
        sparse_ok=True,
        compress="deflate",
        crs="EPSG:32618",
        transform=Affine(10, 0, 500000, 0, -10, 4000000),
    )
    data = np.random.default_rng(0).integers(1, 4000, size=(3, BLOCK, BLOCK), dtype=np.uint16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, window=Window(2 * BLOCK, BLOCK, BLOCK, BLOCK))
    return path


def _run_watched(args: list[str], timeout_s: float) -> tuple[int, str, int]:
    """Run ``tests.ingest.fake_cli`` with ``args``; kill it when its RSS passes the limit or
    at ``timeout_s`` (a guard against a hang, not a speed target). Returns
    ``(exit code, output, peak RSS KiB seen)``."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.ingest.fake_cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak, start = 0, time.monotonic()
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            rss = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
            peak = max(peak, rss)
        except (OSError, StopIteration):
            pass
        if peak > RSS_LIMIT_KIB or time.monotonic() - start > timeout_s:
            child.kill()
            break
        time.sleep(0.05)
    out, _ = child.communicate()
    reported = [int(line.split()[1]) for line in out.splitlines() if line.startswith("peak-rss-kib")]
    return child.returncode, out, max([peak, *reported])


def test_sparse_giant_tiff_indexed_at_tile_16_in_bounded_memory(tmp_path):
    giant = _write_sparse_giant(tmp_path / "huge.tif")
    assert giant.stat().st_size < 8 * 2**20  # a small file claiming 4e10 pixels
    run = make_run(tmp_path / "run")
    args = ["pixel-hash", "--", "index", "build", "--run", str(run), "--images", str(giant)]
    args += ["--index", str(tmp_path / "ix"), "--tile", "16", "--quiet", "--radiometry", "dn:1:0:4000"]
    code, out, peak_kib = _run_watched(args, timeout_s=300)
    print(f"peak RSS at --tile 16: {peak_kib / 1024:.0f} MiB")
    assert peak_kib <= RSS_LIMIT_KIB, f"peak RSS {peak_kib} KiB > 1 GiB (killed)"
    assert code == 0, out
    per_side = GIANT // 16
    assert f"added {(BLOCK // 16) ** 2} tiles" in out  # the 32 x 32 tiles of the written block
    assert f"{per_side * per_side - (BLOCK // 16) ** 2} empty tiles skipped" in out
    with CodeIndex.open(tmp_path / "ix", readonly=True) as index:
        paths = {index.get(int(i))["path"] for i in index.ids()}
    assert f"{giant.resolve()}#1024,512,16,16" in paths and f"{giant.resolve()}#1520,1008,16,16" in paths
    assert len(paths) == (BLOCK // 16) ** 2


def test_query_window_over_the_cap_is_refused(tmp_path, monkeypatch, capsys):
    import mlrsir.inference.encoder as encoder_module
    from mlrsir.geo.tiling import MAX_TILE_SIDE

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    giant = _write_sparse_giant(tmp_path / "huge.tif")
    run = make_run(tmp_path / "run")
    assert build(run, [giant], tmp_path / "ix", "--tile", "512", "--radiometry", "dn:1:0:4000") == 0
    capsys.readouterr()
    side = MAX_TILE_SIDE + 1  # 4097 px: today read without a question
    for window in (f"0,0,{side},{side}", f"0,0,{GIANT},{GIANT}"):
        assert main(["search", "--index", str(tmp_path / "ix"), "--query", f"{giant}#{window}"]) == 2
        err = capsys.readouterr().err
        assert f"{giant}" in err and "larger than the 4096x4096 px" in err, err
    # a window within the cap is still a query
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", f"{giant}#1024,512,512,512", "--k", "1"]) == 0
    assert "#1024,512,512,512" in capsys.readouterr().out


def test_non_finite_pixels_are_nodata_and_empty_tiles_skipped(tmp_path, monkeypatch, capsys):
    import mlrsir.inference.encoder as encoder_module

    from ..geo.conftest import write_raster

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    data = np.random.default_rng(1).uniform(0.01, 0.3, size=(3, 64, 64)).astype(np.float32)
    data[:, :32, :32] = np.nan  # tile 0,0: no finite pixel
    data[:, :32, 32:] = np.inf  # tile 32,0: no finite pixel
    data[0, 32:, :32] = -np.inf  # tile 0,32: one band non-finite, the others data
    data[:, 40, 40] = np.nan  # tile 32,32: one NaN pixel in data
    raster = write_raster(tmp_path / "float.tif", data)
    run = make_run(tmp_path / "run")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert build(run, [raster], tmp_path / "ix", "--tile", "32") == 0
    out = capsys.readouterr().out
    assert "added 2 tiles" in out and "2 empty tiles skipped" in out, out
    with CodeIndex.open(tmp_path / "ix", readonly=True) as index:
        paths = sorted(index.get(int(i))["path"].rsplit("#", 1)[1] for i in index.ids())
    assert paths == ["0,32,32,32", "32,32,32,32"]


def test_two_concurrent_adds_of_one_folder_skip_present_paths(tmp_path, fake_encoder):
    images = tmp_path / "images"
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (255, 255, 255)]
    for i in range(12):
        write_image(images / f"im{i:02d}.png", [colours[i % 4], colours[(i + 1) % 4]] * 2, fmt="PNG")
    seed = tmp_path / "seed"
    write_image(seed / "first.png", [colours[0]] * 4, fmt="PNG")
    run = make_run(tmp_path / "run")
    ix = tmp_path / "ix"
    assert main(["index", "build", "--run", str(run), "--images", str(seed), "--index", str(ix), "--quiet"]) == 0
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    command = [sys.executable, "-m", "tests.ingest.fake_cli", "slow", "--wait-for", "2", "--ready-dir", str(ready)]
    command += ["--", "index", "add", "--index", str(ix), "--images", str(images), "--quiet"]
    children = [
        subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outs = [child.communicate(timeout=240)[0] for child in children]
    for child, out in zip(children, outs):
        assert child.returncode == 0, out
        assert "UNIQUE" not in out
    added = sorted(int(out.split("added ", 1)[1].split()[0]) for out in outs)
    assert sum(added) == 12  # every image once between the two (usually 0 and 12)
    with CodeIndex.open(ix, readonly=True, verify=True) as index:
        paths = [index.get(int(i))["path"] for i in index.ids()]
    assert len(paths) == len(set(paths)) == 13
