"""Tiling: tile counts, the partial-tile rule, bounds, coarse-band alignment, empty tiles."""

from __future__ import annotations

import types

import numpy as np
import pytest
import rasterio
import rasterio.windows
from affine import Affine
from pyproj import Transformer

from mlrsir.geo.scene import open_scene
from mlrsir.geo.tiling import SceneTiler, iter_tiles, tile_origins

from .conftest import write_raster


def test_tile_origins_last_tile_shifted_to_the_edge():
    assert tile_origins(100, 32, 32) == [0, 32, 64, 68]
    assert tile_origins(96, 32, 32) == [0, 32, 64]
    assert tile_origins(100, 32, 16) == [0, 16, 32, 48, 64, 68]
    assert tile_origins(32, 32, 32) == [0]


def test_iter_tiles_is_a_generator(fake_s2):
    assert isinstance(iter_tiles(open_scene(fake_s2), "B04", tile=32), types.GeneratorType)


def test_fine_band_tiles_equal_slices(fake_s2):
    scene = open_scene(fake_s2)
    with rasterio.open(fake_s2 / "T31_B04.tif") as ds:
        full = ds.read(1)
    tiles = list(SceneTiler(scene, "B04,B05", tile=32, stride=24))
    # width 100: 0,24,48,68 ; height 80: 0,24,48 -> 4 x 3
    assert len(tiles) == 12
    for info, arr in tiles:
        c, r, w, h = info.window
        assert arr.shape == (2, 32, 32) and arr.dtype == np.uint16
        np.testing.assert_array_equal(arr[0], full[r : r + h, c : c + w])


def test_s2_tile_count_by_hand(s2_dir):
    scene = open_scene(s2_dir)
    tiler = SceneTiler(scene, "B04,B03,B02,B8A", tile=256)
    assert (tiler.grid.width, tiler.grid.height) == (1933, 1947)
    # 1933: origins 0..1536 step 256 (7) + shifted 1677 = 8; 1947: 7 + shifted 1691 = 8.
    assert tiler.cols[-1] == 1677 and tiler.rows[-1] == 1691
    tiles = list(tiler)
    assert len(tiles) == 64 == tiler.yielded and tiler.skipped == 0
    # tile 500, stride 400: 1933 -> 0,400,800,1200 + 1433 = 5; 1947 -> 0..1200 + 1447 = 5.
    assert len(SceneTiler(scene, "B04", tile=500, stride=400)) == 25


def test_s2_bounds_and_lonlat(s2_dir):
    scene = open_scene(s2_dir)
    tiler = SceneTiler(scene, "B04,B11", tile=256)
    to_ll = Transformer.from_crs("EPSG:32618", "EPSG:4326", always_xy=True)
    for info, _ in list(tiler)[::9]:
        geo = info.geo
        assert set(geo) == {"scene", "window", "crs", "bounds", "lonlat_bounds", "datetime"}
        assert geo["crs"] == "EPSG:32618" and geo["datetime"] == "2016-01-12"
        assert geo["scene"] == "sentinel2-l1c-T18SVG-20160112"
        window = rasterio.windows.Window(*geo["window"])
        assert geo["bounds"] == list(rasterio.windows.bounds(window, tiler.grid.transform))
        x0, y0, x1, y1 = geo["bounds"]
        lons, lats = to_ll.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
        np.testing.assert_allclose(geo["lonlat_bounds"], [min(lons), min(lats), max(lons), max(lats)], atol=1e-7)
        assert -76 < geo["lonlat_bounds"][0] < -75.5 and 37.5 < geo["lonlat_bounds"][1] < 37.8
    first = next(iter(SceneTiler(scene, "B04", tile=256)))[0].geo
    assert first["bounds"] == [435730.0, 4179460.0 - 2560, 435730.0 + 2560, 4179460.0]


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform


def test_s2_20m_band_lines_up_nearest_exact(s2_dir):
    """Nearest: each 10 m pixel gets the 20 m pixel containing its centre (grids offset by 10 m)."""
    b8a, t20 = _read(s2_dir / "bands" / "s2_B8A.tif")
    _, t10 = _read(s2_dir / "bands" / "s2_B04.tif")
    assert t20.c == t10.c - 10  # the offset this test is about
    tiler = SceneTiler(open_scene(s2_dir), "B04,B8A", tile=128, resampling="nearest")
    for info, arr in list(tiler)[::7]:
        c, r, _, _ = info.window
        rows, cols = np.mgrid[r : r + 128, c : c + 128]
        x = t10.c + 10 * (cols + 0.5)
        y = t10.f - 10 * (rows + 0.5)
        cc = ((x - t20.c) // 20).astype(int)
        rr = ((t20.f - y) // 20).astype(int)
        np.testing.assert_array_equal(arr[1], b8a[rr.clip(0, b8a.shape[0] - 1), cc.clip(0, b8a.shape[1] - 1)])


def test_s2_20m_band_bilinear_2x2_block(s2_dir):
    """Bilinear: the 2x2 block of 10 m pixels centred on a 20 m pixel centre holds
    0.75/0.25-weighted mixes of that pixel and its neighbours (pixel-centre convention)."""
    b05, t20 = _read(s2_dir / "bands" / "s2_B05.tif")
    b05 = b05.astype(np.float64)
    tiler = SceneTiler(open_scene(s2_dir), "B02,B05", tile=256)
    checked = 0
    for info, arr in tiler:
        c, r, _, _ = info.window
        for R in range(2, 120, 17):
            for C in range(2, 120, 13):
                # 20 m pixel (R, C): centre x = 435720 + 20C + 10 = 10 m grid edge between cols 2C-1
                # and 2C (x offset of 10 m); centre y = 4179460 - 20R - 10 = edge between rows 2R and
                # 2R+1 (same top). gi, gj: top-left of the 2x2 block of 10 m pixels in the tile.
                gi, gj = 2 * R - r, 2 * C - 1 - c
                if not (0 <= gi < 255 and 0 <= gj < 255):
                    continue
                for di in (0, 1):
                    for dj in (0, 1):
                        ri, rj = (R - 1, R) if di == 0 else (R, R + 1)
                        ci, cj = (C - 1, C) if dj == 0 else (C, C + 1)
                        wi = (0.25, 0.75) if di == 0 else (0.75, 0.25)
                        wj = (0.25, 0.75) if dj == 0 else (0.75, 0.25)
                        expect = sum(wi[a] * wj[b] * b05[(ri, rj)[a], (ci, cj)[b]] for a in (0, 1) for b in (0, 1))
                        assert abs(float(arr[1, gi + di, gj + dj]) - expect) <= 1.0
                        checked += 1
        break  # the first tile is enough (all of it lies inside the 20 m raster)
    assert checked > 100


def test_s2_60m_band_edge_rows_replicated(s2_dir):
    """B01 (60 m) ends 50 m above the 10 m grid's bottom: those rows repeat the edge value."""
    tiler = SceneTiler(open_scene(s2_dir), "B02,B01", tile=256)
    *_, (info, arr) = list(tiler)
    assert info.window[1] + 256 == 1947
    np.testing.assert_array_equal(arr[1, -5:], np.broadcast_to(arr[1, -6], (5, 256)))
    assert (arr[1] > 0).all()


def test_zero_filled_tiles_skipped_and_counted(tmp_path, l8_dir):
    """Landsat-style zero-filled border (no nodata tag): tiles zero in ALL bands are skipped."""
    b4, t = _read(l8_dir / "bands" / "l8_B4.tif")
    b5, _ = _read(l8_dir / "bands" / "l8_B5.tif")
    h, w = b4.shape
    rows, cols = np.mgrid[0:h, 0:w]
    outside = (rows + cols < 300) | (cols > w - 90)  # a rotated-footprint corner and a right margin
    b4z, b5z = np.where(outside, 0, b4), np.where(outside, 0, b5)
    b5z[5:10, 5:10] = 77  # one band non-zero: that tile must be kept
    folder = tmp_path / "l8_zero"
    folder.mkdir()
    crs = "EPSG:32616"
    write_raster(folder / "l8_B4.tif", b4z.astype(np.uint16), t, crs=crs)
    write_raster(folder / "l8_B5.tif", b5z.astype(np.uint16), t, crs=crs)
    tiler = SceneTiler(open_scene(folder), "B4,B5", tile=64)
    kept = list(tiler)
    expected_skipped = 0
    for r in tiler.rows:
        for c in tiler.cols:
            if not b4z[r : r + 64, c : c + 64].any() and not b5z[r : r + 64, c : c + 64].any():
                expected_skipped += 1
    assert expected_skipped >= 5
    assert tiler.skipped == expected_skipped and len(kept) == len(tiler) - expected_skipped
    assert any(info.window[:2] == (0, 0) for info, _ in kept)  # kept thanks to band B5
    all_tiles = list(SceneTiler(open_scene(folder), "B4,B5", tile=64, skip_empty=False))
    assert len(all_tiles) == len(tiler)


def test_real_landsat_skip_count_by_hand(l8_dir):
    scene = open_scene(l8_dir)
    assert scene.datetime == "2015-08-04T16:19:21.791742Z"
    tiler = SceneTiler(scene, "B4,B3,B2", tile=128)
    b4, _ = _read(l8_dir / "bands" / "l8_B4.tif")
    expected = sum(not b4[r : r + 128, c : c + 128].any() for r in tiler.rows for c in tiler.cols)
    n = sum(1 for _ in tiler)
    assert tiler.skipped == expected and n == len(tiler) - expected
    assert tiler.grid.name == "B4" and next(iter(tiler))[0].geo["crs"] == "EPSG:32616"


def test_landsat_pan_band_is_the_grid(l8_dir):
    tiler = SceneTiler(open_scene(l8_dir), "B4,B8", tile=256)
    assert tiler.grid.name == "B8" and (tiler.grid.width, tiler.grid.height) == (1254, 1207)


def test_nodata_tag_counts_as_empty(tmp_path):
    data = np.full((64, 64), 65535, np.uint16)
    data[:32, :32] = 100
    write_raster(tmp_path / "n_B01.tif", data, Affine(10, 0, 0, 0, -10, 640), nodata=65535)
    tiler = SceneTiler(open_scene(tmp_path), None, tile=32)
    assert len(list(tiler)) == 1 and tiler.skipped == 3


# ---------------------------------------------------------------------------- sparse GeoTIFFs
def _sparse(path, blocks, size=(1024, 768), block=128, count=1, transform=None, nodata=None):
    """A tiled sparse GeoTIFF of ``size`` (width, height) px with only ``blocks`` ((col, row)
    block positions) written, random values 1..200 (never 0)."""
    width, height = size
    profile = dict(
        driver="GTiff",
        width=width,
        height=height,
        count=count,
        dtype="uint16",
        tiled=True,
        blockxsize=block,
        blockysize=block,
        sparse_ok=True,
        crs="EPSG:32618",
        transform=transform or Affine(10, 0, 500000, 0, -10, 4000000),
        nodata=nodata,
    )
    rng = np.random.default_rng(len(blocks))
    with rasterio.open(path, "w", **profile) as dst:
        for c, r in blocks:
            data = rng.integers(1, 200, size=(count, block, block), dtype=np.uint16)
            dst.write(data, window=rasterio.windows.Window(c * block, r * block, block, block))
    return path


def test_sparse_blocks_skipped_unread_with_the_same_tiles_as_reading_all(tmp_path, monkeypatch):
    """Oracle: the tiles (and the skipped count) with the block table equal those of reading
    every tile; and tiles on unwritten blocks are never read."""
    from mlrsir.geo import raster

    path = _sparse(tmp_path / "s.tif", [(1, 0), (5, 3), (7, 5)])
    for tile, stride in ((64, None), (100, 70), (128, 128), (200, 150)):
        tiler = SceneTiler(open_scene(path), None, tile=tile, stride=stride)
        fast = [(info.window, arr) for info, arr in tiler]
        with monkeypatch.context() as patch:
            patch.setattr(raster.BlockCoverage, "__init__", _unknown_coverage(raster.BlockCoverage.__init__))
            slow_tiler = SceneTiler(open_scene(path), None, tile=tile, stride=stride)
            slow = [(info.window, arr) for info, arr in slow_tiler]
        assert [w for w, _ in fast] == [w for w, _ in slow] and len(fast) > 0
        for (_, a), (_, b) in zip(fast, slow):
            np.testing.assert_array_equal(a, b)
        assert tiler.skipped == slow_tiler.skipped == len(tiler) - len(fast)
    reads = []
    tiler = SceneTiler(open_scene(path), None, tile=64)
    original = tiler._read
    monkeypatch.setattr(tiler, "_read", lambda *a: reads.append(a[3]) or original(*a))
    assert len(list(tiler)) == 3 * 4  # 3 written blocks of 2 x 2 tiles each
    assert len(reads) == 12  # nothing else was read


def _unknown_coverage(init):
    def patched(self, ds, band_index):
        init(self, ds, band_index)
        self.known = False  # as for a format without a block table: every tile is read

    return patched


def test_sparse_skip_keeps_tiles_of_a_coarser_band_written_nearby(tmp_path, monkeypatch):
    """A 20 m band resampled onto a 10 m grid: a tile whose own 10 m blocks are unwritten
    but whose 20 m band has data is kept (the band's blocks are mapped through its grid)."""
    folder = tmp_path / "S2_sparse"
    folder.mkdir()
    _sparse(folder / "T_B04.tif", [(0, 0)], size=(512, 512), block=128)
    _sparse(folder / "T_B05.tif", [(1, 1)], size=(256, 256), block=64, transform=Affine(20, 0, 500000, 0, -20, 4000000))
    tiler = SceneTiler(open_scene(folder), "B04,B05", tile=64)
    kept = [info.window for info, _ in tiler]
    assert (0, 0, 64, 64) in kept  # B04 block (0, 0)
    assert (128, 128, 64, 64) in kept and (192, 192, 64, 64) in kept  # B05 block (1, 1) = 10 m px 128..255
    assert (384, 384, 64, 64) not in kept
    assert tiler.skipped == len(tiler) - len(kept)


def test_windows_are_streamed_not_listed():
    assert isinstance(SceneTiler.iter_windows, types.FunctionType)
    assert not hasattr(SceneTiler, "windows")


def test_tile_over_the_window_cap_refused(fake_s2):
    from mlrsir.errors import DataError
    from mlrsir.geo.tiling import MAX_TILE_SIDE, check_window_size

    check_window_size(MAX_TILE_SIDE, MAX_TILE_SIDE, "x.tif")
    with pytest.raises(DataError, match=r"x.tif: a window of 4097x10 px is larger than the 4096x4096 px"):
        check_window_size(MAX_TILE_SIDE + 1, 10, "x.tif")
    with pytest.raises(DataError, match="larger than the 4096x4096 px"):
        SceneTiler(open_scene(fake_s2), "B04", tile=MAX_TILE_SIDE + 1)
