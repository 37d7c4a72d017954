"""Cloud fraction from quality bands: bit layouts, and the real Landsat 8 BQA band."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlrsir.errors import ConfigError
from mlrsir.geo.clouds import cloud_fraction, detect_layout
from tests.fakes.encoder import fake_encoder  # noqa: F401

L8 = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "geo" / "landsat8-LC80200392015216LGN00"


def test_layouts():
    pre = np.array([0x5000, 0xD000, 0xF000, 0x9000, 0x0001], np.uint16)  # low, high, high, medium, fill
    assert cloud_fraction(pre, "l8-pre") == pytest.approx(2 / 4)
    assert cloud_fraction(pre, "l8-pre", min_confidence=2) == pytest.approx(3 / 4)
    c1 = np.array([0b10000, 0b0, 0b1_1000_0000_0000, 0b10001], np.uint16)  # cloud, clear, cirrus high, fill
    assert cloud_fraction(c1, "l8-c1") == pytest.approx(1 / 3)
    assert cloud_fraction(c1, "l8-c1", cirrus=True) == pytest.approx(2 / 3)
    c2 = np.array([1 << 3, 1 << 6, 1 << 2, 1], np.uint16)
    assert cloud_fraction(c2, "l8-c2") == pytest.approx(1 / 3)
    scl = np.array([0, 4, 8, 9, 10, 5], np.uint8)
    assert cloud_fraction(scl, "s2-scl") == pytest.approx(2 / 5)
    assert cloud_fraction(scl, "s2-scl", cirrus=True) == pytest.approx(3 / 5)
    assert cloud_fraction(np.ones(3, np.uint16), "l8-c1") is None
    with pytest.raises(ConfigError):
        cloud_fraction(pre, "modis")


@pytest.mark.realdata
def test_real_landsat8_bqa():
    band = L8 / "bands" / "l8_BQA.tif"
    if not band.exists():
        pytest.skip(f"{band} not present")
    pytest.importorskip("rasterio")
    from mlrsir.geo.clouds import window_cloud_fraction

    assert detect_layout(band) == "l8-pre"  # LGN00, LPGS 2.5.1: MTL has no COLLECTION_NUMBER
    whole = window_cloud_fraction(band, (0, 0, 627, 603))
    assert 0.05 < whole < 0.07  # high-confidence cloud; the MTL's CLOUD_COVER is 11.08 % of the full scene
    tiles = [window_cloud_fraction(band, (c, r, 256, 256)) for c in range(0, 627, 256) for r in range(0, 603, 256)]
    assert max(tiles) > 0.15 and min(tiles) < 0.01  # cloudy tiles and clear ones
    # an edge tile reaching past the raster counts only the pixels inside it
    assert window_cloud_fraction(band, (600, 580, 256, 256)) == window_cloud_fraction(band, (600, 580, 27, 23))


@pytest.mark.realdata
def test_landsat_index_max_cloud_and_search_filters(tmp_path, fake_encoder, capsys):  # noqa: F811
    bands = L8 / "bands"
    if not bands.exists():
        pytest.skip(f"{bands} not present")
    pytest.importorskip("rasterio")
    from mlrsir.cli.main import main
    from mlrsir.index.store import CodeIndex
    from mlrsir.index.tile_quality import cloud_fractions
    from tests.fakes.encoder import make_run

    run = make_run(tmp_path / "run")
    args = ["index", "build", "--run", str(run), "--images", str(bands), "--index", str(tmp_path / "all")]
    assert main(args + ["--tile", "200", "--quiet"]) == 0
    with CodeIndex.open(tmp_path / "all", readonly=True) as index:
        fractions = cloud_fractions(index)
        total = len(index)
        assert len(fractions) == total and all(f is not None for f in fractions.values())
        cloudy = sum(f > 0.1 for f in fractions.values())
        first = index.ids()[0]
    assert 0 < cloudy < total
    out = capsys.readouterr().out
    assert f"cloud fraction stored for {total} tiles" in out
    args = ["index", "build", "--run", str(run), "--images", str(bands), "--index", str(tmp_path / "clear")]
    assert main(args + ["--tile", "200", "--max-cloud", "0.1", "--quiet"]) == 0
    assert f"skipped {cloudy} cloudy tiles" in capsys.readouterr().out
    with CodeIndex.open(tmp_path / "clear", readonly=True) as index:
        assert len(index) == total - cloudy
    tile = CodeIndex.open(tmp_path / "all", readonly=True)
    query = tile.get(int(first))["path"]
    tile.close()
    search = ["search", "--index", str(tmp_path / "all"), "--query", query, "--k", "50", "--json"]
    assert main(search + ["--max-cloud", "0.1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == total - cloudy and all(fractions[r["id"]] <= 0.1 for r in rows)
    assert main(search + ["--after", "2015-08-04", "--before", "2015-08-04"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == total
    assert main(search + ["--after", "2015-08-05"]) == 1  # an empty answer: exit 1, said on stderr
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "no results" in captured.err
