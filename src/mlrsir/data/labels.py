"""Image-level multi-label files: parsing with errors that name file, line and column.

Supported formats (dispatch on the suffix in :func:`read_label_file`):

* ``.txt`` / ``.tsv`` / ``.csv``: a header row then one row per image. The delimiter is
  a tab when the header contains one, else a semicolon when it contains one (WHDLD's
  ``multilabels.csv``: ``IMAGE\\LABEL;building;...``), else a comma. The header's first cell names the
  image column (``IMAGE\\LABEL`` in UCM's ``LandUse_Multilabeled.txt``, ``image`` in a
  WHDLD CSV); the other cells are class names. Each data row is the image name (without
  extension; an image extension is stripped if present) followed by one ``0``/``1`` per
  class. CRLF or LF line endings and a UTF-8 byte-order mark are accepted; blank lines
  are skipped; trailing whitespace/tabs on a line are ignored.
* ``.xlsx`` (openpyxl): the worksheet named ``Sheet1`` when there is one (DLRSD's
  ``multi-labels.xlsx``), else the first, laid out like the text file. Cells may hold
  numbers 0/1 (also 0.0/1.0) or the strings "0"/"1".
* ``.mat`` (scipy.io.loadmat): variable ``labels`` of shape ``(C, N)`` or ``(N, C)``
  (UCM's ``LandUse_multilabels.mat`` is 17 x 2100). A ``.mat`` has no names; the rule:
  its image axis follows the UCM release order, which is the sorted order of the image
  names ``<scene><NN>`` (:func:`ucm_release_names`: ``agricultural00`` ...
  ``tenniscourt99``), and its classes are UCM's 17 in file order. Each row therefore gets
  its implied image name and is matched by name like a row of the text file, so the
  ``.mat`` labels any subset of the images. A ``.mat`` of another length needs the
  caller's ``image_names`` (all images, in that sorted order).

Class names are normalised by :func:`normalize_class_name` (``bare-soil`` ->
``bare_soil``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlrsir.data.images import IMAGE_SUFFIXES
from mlrsir.errors import DataError


@dataclass
class LabelTable:
    """Parsed label file.

    Attributes:
        path: the file read.
        classes: normalised class names, length C.
        names: image names (no extension), length N, unique.
        labels: ``np.ndarray (N, C) uint8`` in {0, 1}.
    """

    path: Path
    classes: list[str]
    names: list[str]
    labels: np.ndarray

    def row_of(self) -> dict[str, int]:
        """Image name -> row index."""
        return {name: i for i, name in enumerate(self.names)}


def normalize_class_name(name: str) -> str:
    """``"Bare-soil "`` -> ``"bare_soil"``: strip, lower case, ``-``/space -> ``_``."""
    out = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    while "__" in out:
        out = out.replace("__", "_")
    return out


def class_key(name: str) -> str:
    """Spelling-free key of a class name: ``"bare-soil"``, ``"baresoil"``, ``"Bare soil"``
    -> ``"baresoil"`` (DLRSD's label sheet writes its names without hyphens)."""
    return normalize_class_name(name).replace("_", "")


def reorder_classes(table: LabelTable, classes: list[str]) -> LabelTable:
    """``table`` with its columns in the order of ``classes`` (matched by :func:`class_key`).

    Raises DataError naming the file when a class is missing or a column is unknown.
    """
    position = {class_key(c): j for j, c in enumerate(table.classes)}
    wanted = [class_key(c) for c in classes]
    missing = [c for c, k in zip(classes, wanted) if k not in position]
    extra = [c for c in table.classes if class_key(c) not in set(wanted)]
    if missing or extra:
        raise DataError(
            f"{table.path}: label columns {table.classes} do not match the classes {classes} "
            f"(missing: {missing or 'none'}; unknown: {extra or 'none'})"
        )
    labels = table.labels[:, [position[k] for k in wanted]]
    return LabelTable(table.path, list(classes), list(table.names), labels)


def strip_image_suffix(name: str) -> str:
    """``"airplane00.tif"`` -> ``"airplane00"``; other names unchanged."""
    name = str(name).strip()
    lowered = name.lower()
    for suffix in IMAGE_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_label_file(
    path: str | Path,
    image_names: list[str] | None = None,
    classes: list[str] | None = None,
) -> LabelTable:
    """Read a label file of any supported format (see module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label file not found")
    suffix = path.suffix.lower()
    if suffix in (".txt", ".tsv", ".csv"):
        return read_label_text(path)
    if suffix == ".xlsx":
        return read_label_xlsx(path)
    if suffix == ".mat":
        return read_label_mat(path, image_names, classes)
    raise DataError(f"{path}: unsupported label file type {suffix!r} (use .txt, .csv, .xlsx or .mat)")


def read_label_text(path: str | Path) -> LabelTable:
    """Parse a tab- or comma-separated label file (UCM ``.txt``, WHDLD ``.csv``)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc})") from None
    lines = [(number, line.rstrip()) for number, line in enumerate(text.splitlines(), start=1)]
    lines = [(number, line) for number, line in lines if line.strip()]
    if not lines:
        raise DataError(f"{path}: empty label file (no header, no rows)")
    header = lines[0][1]
    delimiter = "\t" if "\t" in header else (";" if ";" in header else ",")
    rows = [(number, line.split(delimiter)) for number, line in lines]
    return _table_from_rows(path, rows)


def read_label_xlsx(path: str | Path) -> LabelTable:
    """Parse the first worksheet of an ``.xlsx`` laid out like the text file."""
    import openpyxl

    path = Path(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a bad file
        raise DataError(f"{path}: cannot read as .xlsx ({exc})") from None
    try:
        sheet = workbook["Sheet1"] if "Sheet1" in workbook.sheetnames else workbook.worksheets[0]
        rows = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = ["" if v is None else _cell_text(v) for v in values]
            while cells and cells[-1] == "":
                cells.pop()
            if cells:
                rows.append((number, cells))
    finally:
        workbook.close()
    if not rows:
        raise DataError(f"{path}: empty label file (no header, no rows)")
    return _table_from_rows(path, rows)


def _cell_text(value) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value).strip()


UCM_SCENES = (
    "agricultural",
    "airplane",
    "baseballdiamond",
    "beach",
    "buildings",
    "chaparral",
    "denseresidential",
    "forest",
    "freeway",
    "golfcourse",
    "harbor",
    "intersection",
    "mediumresidential",
    "mobilehomepark",
    "overpass",
    "parkinglot",
    "river",
    "runway",
    "sparseresidential",
    "storagetanks",
    "tenniscourt",
)
"""The 21 UC Merced scene folders, sorted (100 images each, ``<scene>00`` .. ``<scene>99``)."""


def ucm_release_names() -> list[str]:
    """The 2,100 UCM image names in release order (the sorted order of the names): the
    implied name of each column of a UCM ``.mat`` label file."""
    return [f"{scene}{i:02d}" for scene in UCM_SCENES for i in range(100)]


def read_label_mat(
    path: str | Path, image_names: list[str] | None = None, classes: list[str] | None = None
) -> LabelTable:
    """Read variable ``labels`` (``(C, N)`` or ``(N, C)``) of a MATLAB file.

    Row ``i`` belongs to the ``i``-th UCM release name (:func:`ucm_release_names`) when
    the file has 2,100 images, else to ``image_names[i]`` (the caller's complete, sorted
    image list); ``classes`` default to UCM's 17.
    """
    import scipy.io

    from mlrsir.data.ucm import UCM_CLASSES  # noqa: PLC0415 (cycle: data.ucm imports this module)

    path = Path(path)
    try:
        content = scipy.io.loadmat(path)
    except Exception as exc:
        raise DataError(f"{path}: cannot read as MATLAB .mat ({exc})") from None
    if "labels" not in content:
        keys = sorted(k for k in content if not k.startswith("__"))
        raise DataError(f"{path}: no variable 'labels' (found {keys})")
    matrix = np.asarray(content["labels"])
    if matrix.ndim != 2:
        raise DataError(f"{path}: 'labels' must be 2-D, got shape {matrix.shape}")
    classes = [normalize_class_name(c) for c in (classes or UCM_CLASSES)]
    c = len(classes)
    release = ucm_release_names()
    if len(release) in matrix.shape and c in matrix.shape:
        image_names = release
    elif image_names is None:
        raise DataError(
            f"{path}: 'labels' has shape {matrix.shape}; a .mat holds no image names, so it is read as the "
            f"UCM release ({c} classes x {len(release)} images in the sorted order of their names)"
        )
    n = len(image_names)
    if matrix.shape == (c, n) and matrix.shape != (n, c):
        matrix = matrix.T
    elif matrix.shape != (n, c):
        raise DataError(
            f"{path}: 'labels' has shape {matrix.shape}, expected ({c}, {n}) or ({n}, {c}) "
            f"for {n} images and {c} classes"
        )
    bad = ~np.isin(matrix, (0, 1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise DataError(
            f"{path}: 'labels' value {matrix[i, j]!r} for image {image_names[i]} (class {classes[j]}) is not 0 or 1"
        )
    return LabelTable(path, list(classes), list(image_names), matrix.astype(np.uint8))


def _table_from_rows(path: Path, rows: list[tuple[int, list[str]]]) -> LabelTable:
    """Validate header + rows (line numbers 1-based) into a :class:`LabelTable`."""
    header_number, header = rows[0]
    header = [cell.strip() for cell in header]
    classes = [normalize_class_name(cell) for cell in header[1:]]
    if not classes:
        raise DataError(f"{path}: line {header_number}: header has no class columns")
    if all(cell in ("0", "1") for cell in header[1:]):
        raise DataError(
            f"{path}: line {header_number}: first line looks like data, expected a header "
            "(image column name then class names)"
        )
    seen_classes: set[str] = set()
    for name in classes:
        if not name:
            raise DataError(f"{path}: line {header_number}: empty class name in header")
        if name in seen_classes:
            raise DataError(f"{path}: line {header_number}: class {name!r} appears twice in header")
        seen_classes.add(name)
    if len(rows) == 1:
        raise DataError(f"{path}: no label rows after the header")

    expected = len(classes) + 1
    names: list[str] = []
    first_line: dict[str, int] = {}
    labels = np.zeros((len(rows) - 1, len(classes)), dtype=np.uint8)
    for r, (number, cells) in enumerate(rows[1:]):
        if len(cells) != expected:
            kind = "missing" if len(cells) < expected else "extra"
            raise DataError(
                f"{path}: line {number}: {len(cells)} columns, expected {expected} "
                f"(image name + {len(classes)} classes; {kind} columns)"
            )
        name = strip_image_suffix(cells[0])
        if not name:
            raise DataError(f"{path}: line {number}: empty image name")
        if name in first_line:
            raise DataError(f"{path}: line {number}: duplicate image name {name!r} (first on line {first_line[name]})")
        first_line[name] = number
        names.append(name)
        for j, cell in enumerate(cells[1:]):
            value = cell.strip()
            if value not in ("0", "1"):
                raise DataError(
                    f"{path}: line {number}, column {j + 2} ({header[j + 1]}): value {value!r} is not 0 or 1"
                )
            labels[r, j] = value == "1"
    return LabelTable(path, classes, names, labels)
