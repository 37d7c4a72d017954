"""Fixtures for the geo tests: real data under ../shared/data/geo (skipped when absent), fake rasters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rasterio", reason="rasterio (a core dependency) is not installed")

import rasterio  # noqa: E402
from affine import Affine  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
GEO_ROOT = Path(os.environ.get("MLRSIR_GEO_ROOT", REPO_ROOT.parent / "shared" / "data" / "geo"))
S2_DIR = GEO_ROOT / "sentinel2-l1c-T18SVG-20160112"
L8_DIR = GEO_ROOT / "landsat8-LC80200392015216LGN00"
BEN_DIR = GEO_ROOT / "bigearthnet"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"real {what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def s2_dir() -> Path:
    """The real Sentinel-2 L1C crop (skip when absent)."""
    return _need(S2_DIR / "bands" / "s2_B04.tif", "Sentinel-2 data") and S2_DIR


@pytest.fixture(scope="session")
def l8_dir() -> Path:
    """The real Landsat 8 crop (skip when absent)."""
    return _need(L8_DIR / "bands" / "l8_B4.tif", "Landsat 8 data") and L8_DIR


@pytest.fixture(scope="session")
def ben_dir() -> Path:
    """The real BigEarthNet patches (skip when absent)."""
    return _need(BEN_DIR / "npz-v1" / "labels.json", "BigEarthNet patches") and BEN_DIR


def write_raster(
    path: Path, data: np.ndarray, transform=None, crs="EPSG:32618", nodata=None, descriptions=None, **extra
) -> Path:
    """Write ``data`` ((H, W) or (B, H, W)) as a GeoTIFF; ``crs=None`` writes no georeference."""
    data = data[None] if data.ndim == 2 else data
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype.name,
        "nodata": nodata,
        **extra,
    }
    if crs is not None:
        profile.update(crs=crs, transform=transform or Affine(10, 0, 500000, 0, -10, 4000000))
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if descriptions:
            for i, d in enumerate(descriptions, 1):
                dst.set_band_description(i, d)
    return path


@pytest.fixture
def fake_s2(tmp_path) -> Path:
    """A Sentinel-2-like folder: B02/B03/B04 10 m (100 x 80 px), B05/B8A 20 m offset by 10 m."""
    folder = tmp_path / "S2A_MSIL1C_20200315T101021_fake"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("B02", "B03", "B04"):
        write_raster(
            folder / f"T31_{name}.tif",
            rng.integers(1, 5000, (80, 100), dtype=np.uint16),
            Affine(10, 0, 500010, 0, -10, 4000000),
        )
    for name in ("B05", "b8a"):
        write_raster(
            folder / f"T31_{name}.TIF",
            rng.integers(1, 5000, (40, 51), dtype=np.uint16),
            Affine(20, 0, 500000, 0, -20, 4000000),
        )
    return folder
