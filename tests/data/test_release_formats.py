"""DLRSD and WHDLD read in exactly their release formats (fixtures generated in them)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.dlrsd import DLRSD, DLRSD_CLASSES, DLRSD_COLORS, read_dlrsd_mask
from mlrsir.data.registry import load_dataset
from mlrsir.data.whdld import WHDLD_CLASSES
from mlrsir.errors import DataError
from tests.fixtures.make_datasets import DLRSD_RELEASE_COLORS, make_dlrsd_fixture, make_whdld_fixture, whdld_labels


def _expected_ucm_like(scenes, per_scene):
    out = []
    for s in range(scenes):
        for k in range(per_scene):
            row = np.zeros(17, dtype=np.uint8)
            row[[(3 * s) % 17, (3 * s + 1) % 17]] = 1
            if k % 2 == 1:
                row[(3 * s + 2) % 17] = 1
            out.append(row)
    return np.stack(out)


@pytest.mark.parametrize("encoding", ["index", "rgb", "palette"])
def test_dlrsd_release_masks_rgb_palette_and_index(tmp_path, encoding):
    root = make_dlrsd_fixture(
        tmp_path / "d", scenes=3, per_scene=4, size=32, mask_layout="DLRSD/Images", encoding=encoding
    )
    ds = load_dataset("dlrsd", root)
    assert ds.classes == DLRSD_CLASSES and ds.mask_dir == root / "DLRSD" / "Images"
    assert np.array_equal(ds.labels, _expected_ucm_like(3, 4))
    assert ds.scenes is not None and len(set(ds.scenes)) == 3


def test_dlrsd_colour_table_and_unknown_colour(tmp_path):
    assert DLRSD_COLORS == DLRSD_RELEASE_COLORS  # the table of the release notes
    path = tmp_path / "m.png"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (0, 128, 128)  # grass
    rgb[2:] = (255, 0, 192)  # ship
    Image.fromarray(rgb, "RGB").save(path)
    mask = read_dlrsd_mask(path)
    assert set(np.unique(mask)) == {DLRSD_CLASSES.index("grass") + 1, DLRSD_CLASSES.index("ship") + 1}
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb, "RGB").save(path)
    with pytest.raises(DataError, match=r"unknown DLRSD mask colour \(1, 2, 3\)"):
        read_dlrsd_mask(path)


def test_dlrsd_multilabels_xlsx_sheet1_hyphenless_columns(tmp_path):
    root = make_dlrsd_fixture(tmp_path / "d", scenes=3, per_scene=4, size=32, masks=False, xlsx=True)
    ds = load_dataset("dlrsd", root)  # no mask folder: the release's label sheet
    assert ds.mask_paths is None and ds.classes == DLRSD_CLASSES
    assert np.array_equal(ds.labels, _expected_ucm_like(3, 4))
    both = make_dlrsd_fixture(tmp_path / "e", scenes=2, per_scene=3, size=32, mask_layout="DLRSD/Images", xlsx=True)
    from_sheet = DLRSD(both, label_file=both / "DLRSD" / "multi-labels.xlsx")
    assert np.array_equal(from_sheet.labels, load_dataset("dlrsd", both).labels)


@pytest.mark.parametrize("encoding", ["rgb", "palette", "index"])
def test_whdld_release_layout_masks_and_csv(tmp_path, encoding):
    top = make_whdld_fixture(tmp_path / "w", n=12, size=32, encoding=encoding, nested=True, csv=True)
    ds = load_dataset("whdld", top)  # the folder holding WHDLD/
    assert ds.root == top / "WHDLD" and ds.classes == WHDLD_CLASSES
    assert np.array_equal(ds.labels, whdld_labels(12))
    assert all(p.name.startswith("wh") and p.suffix == ".jpg" for p in ds.paths)


def test_whdld_multilabels_csv_semicolons(tmp_path):
    top = make_whdld_fixture(tmp_path / "w", n=10, size=32, nested=True, csv=True, masks=False)
    text = (top / "WHDLD" / "multilabels.csv").read_text()
    assert text.startswith("IMAGE\\LABEL;building;road;pavement;vegetation;bare soil;water")
    ds = load_dataset("whdld", top)  # no ImagesPNG: the label file
    assert ds.mask_paths is None and ds.classes == WHDLD_CLASSES
    assert np.array_equal(ds.labels, whdld_labels(10))
