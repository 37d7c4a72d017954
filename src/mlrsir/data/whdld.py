"""WHDLD (Wuhan Dense Labeling Dataset, Shao et al. 2020): 4940 images, 6 classes.

Layout::

    ROOT/Images/whNNNN.jpg          RGB images (256 x 256)
    ROOT/ImagesPNG/whNNNN.png       pixel-wise masks

Classes, in this order: building, road, pavement, vegetation, bare_soil, water.

Mask encodings (``encoding="auto"`` detects per file):

* ``"index"``: single-channel values ``1..6`` = the classes above in this order, ``0`` =
  unlabelled if present. This is the order of the WHDLD release notes (building 1, road
  2, pavement 3, vegetation 4, bare soil 5, water 6); it could not be checked against a
  copy here, so a copy using another order needs ``label_file=`` or re-encoding.
  A palette (mode P) PNG is read by its indices when all used indices are <= 6,
  otherwise by its colours (below).
* ``"rgb"``: colours building (255,0,0), road (255,255,0), pavement (192,192,0),
  vegetation (0,255,0), bare soil (128,128,128), water (0,0,255); black (0,0,0) =
  unlabelled. Any other colour is a ``DataError`` naming the file and the colour. An RGB
  file whose channels are all equal with values <= 6 is read as an index mask.

``ROOT`` may also be the folder holding the release's ``WHDLD/`` folder.

Instead of masks, ``label_file=`` may give image-level labels as CSV: the release's
``WHDLD/multilabels.csv`` is ``;``-separated with a header starting ``IMAGE\\LABEL``
(used automatically when there is no ``ImagesPNG`` folder); ``,``- and tab-separated
files are read too (rows: name, extension optional, + 0/1 per class; see
:mod:`mlrsir.data.labels`). Columns naming the six classes (any order, any spelling of
bare soil) are put in :data:`WHDLD_CLASSES` order. Image-level label from a mask: class covers >= 1 pixel, or
>= ``min_fraction`` of the pixels. ``scenes`` is None (WHDLD has no scene folders).
Images without mask/row and masks/rows without image: ``DataError`` unless
``strict=False``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.data.base import MultiLabelDataset, labels_from_masks, labels_from_table, sorted_images
from mlrsir.data.labels import class_key, read_label_file, reorder_classes
from mlrsir.data.masks import check_index_range, colour_lookup, colours_to_index, open_mask_array
from mlrsir.errors import DataError

WHDLD_CLASSES = ["building", "road", "pavement", "vegetation", "bare_soil", "water"]

#: RGB colour of each class (index order = WHDLD_CLASSES).
WHDLD_COLORS = [
    (255, 0, 0),  # building
    (255, 255, 0),  # road
    (192, 192, 0),  # pavement
    (0, 255, 0),  # vegetation
    (128, 128, 128),  # bare soil
    (0, 0, 255),  # water
]
UNLABELLED_COLOR = (0, 0, 0)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


_CODE_TO_INDEX = colour_lookup(WHDLD_COLORS)


def rgb_mask_to_index(path: Path, rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 colour mask -> ``(H, W)`` int64 index mask (0..6)."""
    decoded = colours_to_index(rgb, _CODE_TO_INDEX)
    if isinstance(decoded, np.ndarray):
        return decoded
    raise DataError(
        f"{path}: unknown mask colour {decoded} (WHDLD colours: "
        + ", ".join(f"{n} {c}" for n, c in zip(WHDLD_CLASSES, WHDLD_COLORS))
        + ", unlabelled (0, 0, 0))"
    )


def read_whdld_mask(path: Path, encoding: str = "auto") -> np.ndarray:
    """Read a WHDLD mask as ``(H, W)`` int64 class indices 0..6 (see module docstring)."""
    if encoding not in ("auto", "index", "rgb"):
        raise DataError(f"encoding must be 'auto', 'index' or 'rgb', got {encoding!r}")
    num_classes = len(WHDLD_CLASSES)
    array = open_mask_array(path)
    if array.ndim == 2:
        if encoding == "rgb" or (encoding == "auto" and _is_palette(path) and array.max() > num_classes):
            with Image.open(path) as image:
                return rgb_mask_to_index(path, np.asarray(image.convert("RGB")))
        check_index_range(path, array, num_classes)
        return array
    grey = np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])
    if encoding == "index" or (encoding == "auto" and grey and int(array.max()) <= num_classes):
        if not grey:
            raise DataError(f"{path}: colour mask but encoding='index' was requested")
        index = array[..., 0].astype(np.int64)
        check_index_range(path, index, num_classes)
        return index
    return rgb_mask_to_index(path, array)


def _is_palette(path: Path) -> bool:
    with Image.open(path) as image:
        return image.mode == "P"


class WHDLD(MultiLabelDataset):
    """WHDLD images with labels from masks or an image-level CSV (module docstring)."""

    LAYOUT = "Images/whNNNN.jpg and ImagesPNG/whNNNN.png (WHDLD)"

    def __init__(
        self,
        root: str | Path,
        label_file: str | Path | None = None,
        encoding: str = "auto",
        min_fraction: float | None = None,
        strict: bool = True,
        transform: Callable | None = None,
        workers: int | None = None,
    ):
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{root}: dataset folder not found (expected {self.LAYOUT})")
        if not (root / "Images").is_dir() and (root / "WHDLD" / "Images").is_dir():
            root = root / "WHDLD"  # the release folder inside the given one
        if label_file is None and not (root / "ImagesPNG").is_dir() and (root / "multilabels.csv").is_file():
            label_file = root / "multilabels.csv"
        images_dir = root / "Images"
        if not images_dir.is_dir():
            raise DataError(f"{root}: no 'Images' folder; expected {self.LAYOUT}")
        images, ordered = sorted_images(images_dir, IMAGE_SUFFIXES)

        if label_file is not None:
            table = read_label_file(label_file)
            if {class_key(c) for c in table.classes} == {class_key(c) for c in WHDLD_CLASSES}:
                table = reorder_classes(table, WHDLD_CLASSES)
            classes = table.classes
            kept, labels, problems = labels_from_table(
                root, images_dir, images, ordered, table, source=Path(label_file), strict=strict
            )
            mask_paths = None
        else:
            masks_dir = root / "ImagesPNG"
            if not masks_dir.is_dir():
                raise DataError(f"{root}: no 'ImagesPNG' mask folder; expected {self.LAYOUT} (or pass label_file=)")
            classes = list(WHDLD_CLASSES)
            options = {"min_fraction": min_fraction, "strict": strict, "workers": workers}
            read_mask = functools.partial(read_whdld_mask, encoding=encoding)
            kept, labels, problems, mask_paths = labels_from_masks(
                root, images_dir, images, ordered, masks_dir, read_mask, len(classes), **options
            )
        super().__init__(
            name="whdld",
            root=root,
            classes=classes,
            paths=kept,
            labels=labels.astype(np.uint8),
            scenes=None,
            transform=transform,
            inconsistencies=problems,
        )
        self.mask_paths = mask_paths
