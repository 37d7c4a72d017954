"""BigEarthNet loader on the real patches: layouts, 43->19 mapping, bands at 120 px."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from mlrsir.data.bigearthnet import ALL_BANDS, CLASSES_19, CLC43, CLC43_TO_19, BigEarthNet, resample_bilinear, to_19
from mlrsir.errors import ConfigError, DataError


def test_mapping_table_shape():
    assert len(CLC43) == 43 == len(set(CLC43)) == len(CLC43_TO_19)
    assert set(CLC43_TO_19) == set(CLC43)
    assert {v for v in CLC43_TO_19.values() if v} == set(CLASSES_19) and len(CLASSES_19) == 19
    assert sum(v is None for v in CLC43_TO_19.values()) == 11


def test_mapping_agrees_with_labels_json(ben_dir):
    table = json.loads((ben_dir / "npz-v1" / "labels.json").read_text())
    assert len(table) == 30
    for name, entry in table.items():
        assert set(to_19(entry["labels_43"], name)) == set(entry["labels_19"]), name


def test_npz_v1_loader(ben_dir):
    ds = BigEarthNet(ben_dir / "npz-v1", bands="all")
    assert len(ds) == 30 and ds.classes == CLASSES_19 and ds.labels.shape == (30, 19)
    table = json.loads((ben_dir / "npz-v1" / "labels.json").read_text())
    for i, name in enumerate(ds.patch_names):
        assert {c for c, on in zip(ds.classes, ds.labels[i]) if on} == set(table[name]["labels_19"])
    item = ds[0]
    assert item["image"].shape == (12, 120, 120) and item["labels"].shape == (19,)
    assert 0 <= float(item["image"].min()) and float(item["image"].max()) <= 255
    ds43 = BigEarthNet(ben_dir / "npz-v1", nomenclature=43)
    assert ds43.labels.shape == (30, 43)


def test_npz_v2_labels_19_only(ben_dir):
    ds = BigEarthNet(ben_dir / "npz-v2", bands=["B04", "B8A"])
    assert len(ds) == 24 and ds.read_patch(0).shape == (2, 120, 120)
    with pytest.raises(DataError, match="only 19-class labels"):
        BigEarthNet(ben_dir / "npz-v2", nomenclature=43)


def test_v1_layout_bands_resampled_bilinear(ben_dir):
    root = ben_dir / "v1-patches"
    ds = BigEarthNet(root, bands="all")
    assert len(ds) == 6
    patch = ds.read_patch(0)
    assert patch.shape == (12, 120, 120) and patch.dtype == np.uint16
    folder = ds.paths[0]
    for k, band in enumerate(ALL_BANDS):
        with rasterio.open(folder / f"{folder.name}_{band}.tif") as src:
            raw = src.read(1)
        expected = np.rint(resample_bilinear(raw)).astype(np.uint16)
        np.testing.assert_array_equal(patch[k], expected)
        if raw.shape == (120, 120):
            np.testing.assert_array_equal(patch[k], raw)
    meta = json.loads((folder / f"{folder.name}_labels_metadata.json").read_text())
    assert {c for c, on in zip(ds.classes, ds.labels[0]) if on} == set(to_19(meta["labels"]))
    geo = ds.geo(0)
    assert geo["crs"].startswith("EPSG:326") and geo["window"] == [0, 0, 120, 120]
    assert geo["bounds"] == [
        meta["coordinates"]["ulx"],
        meta["coordinates"]["lry"],
        meta["coordinates"]["lrx"],
        meta["coordinates"]["uly"],
    ]


def test_bilinear_resampling_values():
    up = resample_bilinear(np.array([[0, 100], [100, 200]], np.uint16), size=4)
    np.testing.assert_allclose(up[0], [0, 25, 75, 100])


def test_errors(tmp_path, ben_dir):
    with pytest.raises(ConfigError, match="band"):
        BigEarthNet(ben_dir / "npz-v1", bands=["B10"])
    with pytest.raises(DataError, match="no BigEarthNet patches"):
        BigEarthNet(tmp_path)
