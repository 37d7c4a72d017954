"""Label file parsing: formats, normalisation, and errors naming file/line/column."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.data.labels import normalize_class_name, read_label_file, read_label_text
from mlrsir.errors import DataError

HEADER = "IMAGE\\LABEL\tairplane\tbare-soil\tmobile-home"


def _write(path, lines, newline="\r\n", bom=False):
    data = (newline.join(lines) + newline).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
@pytest.mark.parametrize("bom", [False, True])
def test_text_ok(tmp_path, newline, bom):
    path = _write(tmp_path / "l.txt", [HEADER, "a01\t1\t0\t1", "b02\t0\t0\t0", ""], newline, bom)
    table = read_label_text(path)
    assert table.classes == ["airplane", "bare_soil", "mobile_home"]
    assert table.names == ["a01", "b02"]
    assert table.labels.dtype == np.uint8
    assert table.labels.tolist() == [[1, 0, 1], [0, 0, 0]]


def test_csv_with_extensions(tmp_path):
    path = _write(tmp_path / "l.csv", ["image,building,Bare Soil", "wh0001.jpg,1,0", "wh0002,0,1"], "\n")
    table = read_label_file(path)
    assert table.classes == ["building", "bare_soil"]
    assert table.names == ["wh0001", "wh0002"]
    assert table.labels.tolist() == [[1, 0], [0, 1]]


def test_normalize_class_name():
    assert normalize_class_name(" Bare-Soil ") == "bare_soil"
    assert normalize_class_name("mobile home") == "mobile_home"


def test_empty_file(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.txt: empty label file"):
        read_label_text(tmp_path / "e.txt")
    _write(tmp_path / "h.txt", [HEADER])
    with pytest.raises(DataError, match=r"h\.txt: no label rows"):
        read_label_text(tmp_path / "h.txt")


def test_missing_and_extra_columns(tmp_path):
    path = _write(tmp_path / "m.txt", [HEADER, "a01\t1\t0\t1", "a02\t1\t0"])
    with pytest.raises(DataError, match=r"m\.txt: line 3: 3 columns, expected 4.*missing"):
        read_label_text(path)
    path = _write(tmp_path / "x.txt", [HEADER, "a01\t1\t0\t1\t1"])
    with pytest.raises(DataError, match=r"x\.txt: line 2: 5 columns, expected 4.*extra"):
        read_label_text(path)


def test_bad_value_names_line_and_column(tmp_path):
    path = _write(tmp_path / "v.txt", [HEADER, "a01\t1\t0\t1", "a02\t1\t2\t0"])
    with pytest.raises(DataError, match=r"v\.txt: line 3, column 3 \(bare-soil\): value '2'"):
        read_label_text(path)


def test_duplicate_name(tmp_path):
    path = _write(tmp_path / "d.txt", [HEADER, "a01\t1\t0\t1", "a02\t1\t0\t0", "a01\t0\t0\t1"])
    with pytest.raises(DataError, match=r"d\.txt: line 4: duplicate image name 'a01' \(first on line 2\)"):
        read_label_text(path)


def test_header_missing(tmp_path):
    path = _write(tmp_path / "n.txt", ["a01\t1\t0\t1", "a02\t1\t0\t0"])
    with pytest.raises(DataError, match="expected a header"):
        read_label_text(path)


def test_xlsx(tmp_path):
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["IMAGE\\LABEL", "airplane", "bare-soil"])
    sheet.append(["a01", 1, 0])
    sheet.append(["a02", 0.0, 1.0])
    workbook.save(tmp_path / "l.xlsx")
    table = read_label_file(tmp_path / "l.xlsx")
    assert table.classes == ["airplane", "bare_soil"]
    assert table.labels.tolist() == [[1, 0], [0, 1]]
    sheet.append(["a03", 0, 5])
    workbook.save(tmp_path / "bad.xlsx")
    with pytest.raises(DataError, match=r"bad\.xlsx: line 4, column 3"):
        read_label_file(tmp_path / "bad.xlsx")


@pytest.mark.parametrize("transpose", [True, False])
def test_mat_both_orientations(tmp_path, transpose):
    import scipy.io

    labels = np.array([[1, 0, 0], [0, 1, 1]], dtype=np.uint8)  # (N=2, C=3)
    scipy.io.savemat(tmp_path / "l.mat", {"labels": labels.T if transpose else labels})
    table = read_label_file(tmp_path / "l.mat", image_names=["x", "y"], classes=["a", "b", "c"])
    assert table.names == ["x", "y"]
    assert table.labels.tolist() == labels.tolist()
    with pytest.raises(DataError, match=r"l\.mat: 'labels' has shape"):
        read_label_file(tmp_path / "l.mat", image_names=["x", "y", "z"], classes=["a", "b", "c"])
