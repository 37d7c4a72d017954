"""All label formats behave alike (issue 10, item 5): the release's ``.mat`` file is found
by its release name, labels a subset of the images by (implied) image name, and is
accepted by ``mlrsir index build --labels``.

A ``.mat`` holds no names: its columns follow the UCM release order, the sorted order of
``<scene><NN>`` names (``agricultural00`` ... ``tenniscourt99``).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from PIL import Image

from mlrsir.data.labels import read_label_file, ucm_release_names
from mlrsir.data.ucm import UCM_CLASSES, UCMMultiLabel, find_label_file
from mlrsir.index.ingest import read_labels

SCENES = ["beach", "forest", "harbor"]


def _matrix() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 2, (2100, 17), dtype=np.uint8)


def _write_txt(path, names, matrix):
    lines = ["IMAGE\\LABEL\t" + "\t".join(UCM_CLASSES)]
    lines += [name + "\t" + "\t".join(str(v) for v in row) for name, row in zip(names, matrix)]
    path.write_text("\r\n".join(lines) + "\r\n")


@pytest.fixture
def subset_root(tmp_path):
    """45 images (15 of each of 3 scenes) and both label files of the whole release."""
    for scene in SCENES:
        (tmp_path / "Images" / scene).mkdir(parents=True)
        for i in range(15):
            Image.new("RGB", (8, 8), (i * 10, 0, 0)).save(tmp_path / "Images" / scene / f"{scene}{i:02d}.tif")
    matrix = _matrix()
    scipy.io.savemat(tmp_path / "LandUse_multilabels.mat", {"labels": matrix.T})  # (17, 2100) like the release
    _write_txt(tmp_path / "labels.txt", ucm_release_names(), matrix)
    return tmp_path, matrix


def test_release_order_names():
    names = ucm_release_names()
    assert len(names) == 2100 and names[0] == "agricultural00" and names[-1] == "tenniscourt99"
    assert names == sorted(names) and names[300] == "beach00"


def test_release_mat_name_is_found(subset_root):
    root, _ = subset_root
    assert find_label_file(root).name == "LandUse_multilabels.mat"


def test_mat_labels_a_subset_by_name_like_txt(subset_root):
    root, matrix = subset_root
    from_mat = UCMMultiLabel(root, strict=False)
    from_txt = UCMMultiLabel(root, label_file=root / "labels.txt", strict=False)
    assert len(from_mat) == 45 and [p.stem for p in from_mat.paths] == [p.stem for p in from_txt.paths]
    assert np.array_equal(from_mat.labels, from_txt.labels)
    row = ucm_release_names().index("harbor07")
    assert np.array_equal(from_mat.labels[[p.stem for p in from_mat.paths].index("harbor07")], matrix[row])
    assert from_mat.inconsistencies.keys() == from_txt.inconsistencies.keys()


def test_index_build_reads_mat_labels(subset_root):
    root, matrix = subset_root
    classes_mat, by_name_mat = read_labels(root / "LandUse_multilabels.mat")
    classes_txt, by_name_txt = read_labels(root / "labels.txt")
    assert classes_mat == classes_txt and by_name_mat == by_name_txt
    table = read_label_file(root / "LandUse_multilabels.mat")
    assert table.names[:2] == ["agricultural00", "agricultural01"] and table.labels.shape == (2100, 17)
