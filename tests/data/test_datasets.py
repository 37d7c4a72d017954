"""UCM / DLRSD / WHDLD on generated fixtures; labels checked against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlrsir.data.dlrsd import DLRSD
from mlrsir.data.registry import DATASETS, load_dataset
from mlrsir.data.ucm import UCM_CLASSES, UCMMultiLabel
from mlrsir.data.whdld import WHDLD, WHDLD_CLASSES
from mlrsir.errors import ConfigError, DataError
from tests.fixtures.make_datasets import (
    make_dlrsd_fixture,
    make_ucm_fixture,
    make_whdld_fixture,
    whdld_labels,
)


def _oracle_ucm_labels(root):
    """Parse the fixture's label file by hand: name -> 17 ints."""
    text = (root / "LandUse_Multilabeled.txt").read_bytes().decode()
    rows = [line.split("\t") for line in text.split("\r\n")[1:] if line]
    return {r[0]: [int(v) for v in r[1:]] for r in rows}


@pytest.fixture(scope="module")
def ucm_root(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=10, size=32)


def test_ucm_fixture(ucm_root):
    ds = UCMMultiLabel(ucm_root)
    assert len(ds) == 30 and ds.name == "ucm"
    assert ds.classes == UCM_CLASSES
    oracle = _oracle_ucm_labels(ucm_root)
    for path, row in zip(ds.paths, ds.labels):
        assert row.tolist() == oracle[path.stem]
    assert ds.labels.dtype == np.uint8 and ds.labels.shape == (30, 17)
    assert ds.scenes == [p.parent.name for p in ds.paths]
    assert sorted(set(ds.scenes)) == ["agricultural", "airplane", "baseballdiamond"]
    assert ds.relative_paths[0] == "Images/agricultural/agricultural00.jpg"
    item = ds[3]
    assert item["index"] == 3 and item["path"] == str(ds.paths[3])
    assert item["image"].mode == "RGB"
    assert item["labels"].dtype == torch.float32
    assert item["labels"].tolist() == [float(v) for v in oracle[ds.paths[3].stem]]
    assert ds.inconsistencies == {}


def test_ucm_transform_and_tif(tmp_path):
    root = make_ucm_fixture(tmp_path / "u", scenes=2, per_scene=3, size=16, image_format="tif")
    ds = UCMMultiLabel(root, transform=lambda im: im.size)
    assert all(p.suffix == ".tif" for p in ds.paths)
    assert ds[0]["image"] == (16, 16)


def test_ucm_xlsx_and_mat_labels(ucm_root, tmp_path):
    import openpyxl
    import scipy.io

    ds = UCMMultiLabel(ucm_root)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["IMAGE\\LABEL"] + UCM_CLASSES)
    for path, row in zip(ds.paths, ds.labels):
        sheet.append([path.stem] + [int(v) for v in row])
    workbook.save(tmp_path / "l.xlsx")
    assert np.array_equal(UCMMultiLabel(ucm_root, label_file=tmp_path / "l.xlsx").labels, ds.labels)
    scipy.io.savemat(tmp_path / "l.mat", {"labels": ds.labels.T.astype(np.float64)})  # 17 x N like the release
    from_mat = UCMMultiLabel(ucm_root, label_file=tmp_path / "l.mat")
    assert np.array_equal(from_mat.labels, ds.labels)


def test_ucm_mismatch_strict_and_lenient(tmp_path):
    root = make_ucm_fixture(tmp_path / "u", scenes=2, per_scene=4, size=16)
    (root / "Images" / "airplane" / "airplane02.jpg").unlink()
    extra = root / "Images" / "airplane" / "airplane99.jpg"
    Image.new("RGB", (16, 16)).save(extra)
    with pytest.raises(DataError, match=r"1 rows without image \(airplane02\).*1 images without row"):
        UCMMultiLabel(root)
    with pytest.warns(UserWarning, match="dropped"):
        ds = UCMMultiLabel(root, strict=False)
    assert len(ds) == 7
    assert ds.inconsistencies == {
        "rows_without_image": ["airplane02"],
        "images_without_row": ["Images/airplane/airplane99.jpg"],
    }


def test_not_a_dataset_root(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset("ucm", tmp_path / "missing")
    with pytest.raises(DataError, match="no 'Images' folder; expected Images/<scene>"):
        load_dataset("ucm", tmp_path)
    (tmp_path / "Images").mkdir()
    with pytest.raises(DataError, match="no label file"):
        load_dataset("ucm", tmp_path)
    with pytest.raises(DataError, match="ImagesPNG|no image"):
        load_dataset("whdld", tmp_path)


def test_registry_names_and_options(ucm_root):
    assert set(DATASETS) == {"ucm", "dlrsd", "whdld", "bigearthnet"}
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("cifar", ucm_root)
    with pytest.raises(ConfigError, match="unknown option"):
        load_dataset("ucm", ucm_root, mask_dir="x")


def _mask_oracle(mask_path, num_classes, min_fraction=None):
    mask = np.asarray(Image.open(mask_path))
    out = []
    for c in range(1, num_classes + 1):
        count = sum(int(v == c) for v in mask.ravel())  # per-pixel loop as oracle
        if min_fraction is None:
            out.append(int(count >= 1))
        else:
            out.append(int(count >= 1 and count / mask.size >= min_fraction))
    return out


@pytest.mark.parametrize("layout", ["Labels", "DLRSD/Images"])
def test_dlrsd(tmp_path, layout):
    root = make_dlrsd_fixture(tmp_path / "d", scenes=2, per_scene=3, size=16, mask_layout=layout)
    ds = DLRSD(root)
    assert len(ds) == 6 and ds.classes == UCM_CLASSES and ds.name == "dlrsd"
    assert ds.scenes == [p.parent.name for p in ds.paths]
    for path, mask_path, row in zip(ds.paths, ds.mask_paths, ds.labels):
        assert mask_path.stem == path.stem
        assert row.tolist() == _mask_oracle(mask_path, 17)


def test_dlrsd_min_fraction(tmp_path):
    root = make_dlrsd_fixture(tmp_path / "d", scenes=1, per_scene=2, size=16)
    mask = np.zeros((10, 10), dtype=np.uint8)
    mask[0, :3] = 5  # 3 % of pixels
    mask[1:, :] = 16  # 90 %
    Image.fromarray(mask, "L").save(root / "Labels" / "agricultural" / "agricultural00.png")
    ds = DLRSD(root, min_fraction=0.05)
    row = ds.labels[0]
    assert row.tolist() == _mask_oracle(ds.mask_paths[0], 17, 0.05)
    assert row[15] == 1 and row[4] == 0
    assert DLRSD(root).labels[0][4] == 1


def test_dlrsd_bad_value_and_missing_mask(tmp_path):
    root = make_dlrsd_fixture(tmp_path / "d", scenes=1, per_scene=3, size=16)
    bad = root / "Labels" / "agricultural" / "agricultural01.png"
    mask = np.ones((16, 16), dtype=np.uint8)
    mask[3, 3] = 18
    Image.fromarray(mask, "L").save(bad)
    with pytest.raises(DataError, match=r"agricultural01\.png: mask value 18"):
        DLRSD(root)
    bad.unlink()
    with pytest.raises(DataError, match="images without mask"):
        DLRSD(root)
    with pytest.warns(UserWarning):
        assert len(DLRSD(root, strict=False)) == 2


@pytest.mark.parametrize("encoding", ["index", "rgb"])
def test_whdld(tmp_path, encoding):
    root = make_whdld_fixture(tmp_path / "w", n=12, size=16, encoding=encoding, seed=3)
    ds = WHDLD(root)
    assert ds.classes == WHDLD_CLASSES and ds.scenes is None and len(ds) == 12
    assert [p.name for p in ds.paths][:2] == ["wh0001.jpg", "wh0002.jpg"]
    assert np.array_equal(ds.labels, whdld_labels(12, seed=3))
    forced = WHDLD(root, encoding=encoding)
    assert np.array_equal(forced.labels, ds.labels)


def test_whdld_rgb_colour_mapping_by_hand(tmp_path):
    root = make_whdld_fixture(tmp_path / "w", n=2, size=8, encoding="rgb")
    mask = np.zeros((2, 2, 3), dtype=np.uint8)
    mask[0, 0] = (192, 192, 0)  # pavement
    mask[0, 1] = (128, 128, 128)  # bare soil
    mask[1, :] = (0, 0, 255)  # water
    Image.fromarray(mask, "RGB").save(root / "ImagesPNG" / "wh0001.png")
    assert WHDLD(root).labels[0].tolist() == [0, 0, 1, 0, 1, 1]
    mask[1, 1] = (10, 20, 30)
    Image.fromarray(mask, "RGB").save(root / "ImagesPNG" / "wh0001.png")
    with pytest.raises(DataError, match=r"wh0001\.png: unknown mask colour \(10, 20, 30\)"):
        WHDLD(root)


def test_whdld_label_csv(tmp_path):
    root = make_whdld_fixture(tmp_path / "w", n=3, size=8)
    csv = tmp_path / "labels.csv"
    csv.write_text(
        "image," + ",".join(WHDLD_CLASSES) + "\nwh0001.jpg,1,0,0,0,0,1\nwh0002,0,1,0,0,0,0\nwh0003,0,0,0,0,1,0\n"
    )
    ds = load_dataset("whdld", root, label_file=csv)
    assert ds.labels.tolist() == [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 0]]
