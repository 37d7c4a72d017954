"""DLRSD (Shao et al. 2018): the UCM images with pixel-wise masks of the 17 classes.

Layouts accepted (the UCM images as in :mod:`mlrsir.data.ucm`, masks next to them)::

    ROOT/Images/<scene>/<name>.<tif|jpg|png>        the UCM images
    one of (first found; or ``mask_dir=``):
    ROOT/Labels/<scene>/<name>.png                  masks in their own folder
    ROOT/DLRSD/Images/<scene>/<name>.png            the DLRSD release unpacked into ROOT/DLRSD
    ROOT/DLRSD/Labels/<scene>/<name>.png
    ROOT/masks/<scene>/<name>.png, ROOT/Masks/...

Masks are matched to images by file name (stem), wherever they sit below the mask
folder. In the DLRSD release, ``DLRSD/Images/<class>/<name>.png`` are the pixel masks
(despite the folder name), 256 x 256, stored as RGB or palette PNGs coloured with
:data:`DLRSD_COLORS`; some redistributions ship single-channel masks with values
``1..17`` = :data:`DLRSD_CLASSES` in this order (``0`` = unlabelled). Both are read
(:func:`read_dlrsd_mask`): an RGB file is decoded by colour (black = unlabelled; any other
colour is a ``DataError`` naming the file and the colour) unless its three channels are
equal with values <= 17 (an index mask saved as RGB); a palette file by its colours when
every used colour is in the table, else by its indices; a grey file by its values.

Image-level labels instead of masks: ``label_file=`` (or, when no mask folder exists,
``ROOT/DLRSD/multi-labels.xlsx`` / ``ROOT/multi-labels.xlsx``): the release's sheet
``Sheet1`` with index column ``IMAGE\\LABEL`` and the class names written without hyphens
(``baresoil``, ``mobilehome``), matched to :data:`DLRSD_CLASSES` whatever their order.

From masks, image-level label = class covers >= 1 pixel, or >= ``min_fraction`` of the
pixels when given (:func:`mlrsir.data.masks.labels_from_index_mask`). ``scenes`` are the
image folders.

Images without a mask / masks without an image: ``DataError`` unless ``strict=False``
(dropped with a warning, recorded in ``inconsistencies``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.data.base import (
    MultiLabelDataset,
    first_existing,
    folder_fields,
    labels_from_masks,
    labels_from_table,
    sorted_images,
)
from mlrsir.data.labels import read_label_file, reorder_classes
from mlrsir.data.masks import check_index_range, colour_lookup, colours_to_index, open_mask_array, parse_colour_table
from mlrsir.data.ucm import UCM_CLASSES, UCM_IMAGE_SUFFIXES, find_images_dir
from mlrsir.errors import DataError

#: Mask value v (1..17) is DLRSD_CLASSES[v - 1]; same order as the UCM label file.
DLRSD_CLASSES = list(UCM_CLASSES)

MASK_DIR_CANDIDATES = ("Labels", "DLRSD/Images", "DLRSD/Labels", "masks", "Masks")
LABEL_FILE_CANDIDATES = ("DLRSD/multi-labels.xlsx", "multi-labels.xlsx")

# RGB colour of each class in the DLRSD release masks, in DLRSD_CLASSES order.
_COLOUR_TABLE = """
airplane     166 202 240
bare_soil    128 128   0
buildings      0   0 128
cars         255   0   0
chaparral      0 128   0
court        128   0   0
dock         255 233 233
field        160 160 164
grass          0 128 128
mobile_home   90  87 255
pavement     255 255   0
sand         255 192   0
sea            0   0 255
ship         255   0 192
tanks        128   0 128
trees          0 255   0
water          0 255 255
"""
#: RGB colour of each class in the DLRSD release masks (index order = DLRSD_CLASSES).
DLRSD_COLORS = parse_colour_table(_COLOUR_TABLE, DLRSD_CLASSES)
_COLOR_TO_INDEX = colour_lookup(DLRSD_COLORS)


def _rgb_to_index(path: Path, rgb: np.ndarray, strict: bool = True) -> np.ndarray | None:
    """``(H, W, 3)`` DLRSD colours -> ``(H, W)`` indices 0..17 (None for an unknown colour
    when not ``strict``)."""
    decoded = colours_to_index(rgb, _COLOR_TO_INDEX)
    if isinstance(decoded, np.ndarray):
        return decoded
    if not strict:
        return None
    raise DataError(f"{path}: unknown DLRSD mask colour {decoded} (see mlrsir.data.dlrsd.DLRSD_COLORS)")


def read_dlrsd_mask(path: Path) -> np.ndarray:
    """A DLRSD mask as ``(H, W)`` int64 class indices 0..17 (RGB, palette or index PNG;
    see the module docstring)."""
    num_classes = len(DLRSD_CLASSES)
    array = open_mask_array(path)
    if array.ndim == 3:
        grey = np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2])
        if grey and int(array.max()) <= num_classes:
            return array[..., 0].astype(np.int64)
        return _rgb_to_index(path, array)
    with Image.open(path) as image:
        if image.mode == "P":
            decoded = _rgb_to_index(path, np.asarray(image.convert("RGB")), strict=False)
            if decoded is not None:
                return decoded
    check_index_range(path, array, num_classes)
    return array


def find_label_file(root: Path) -> Path | None:
    """The release's image-level label file below ``root``, if any."""
    return first_existing(root / c for c in LABEL_FILE_CANDIDATES)


def find_mask_dir(root: Path) -> Path:
    """The mask folder below ``root`` (:data:`MASK_DIR_CANDIDATES`); DataError when none."""
    found = first_existing((root / c for c in MASK_DIR_CANDIDATES), folder=True)
    if found is None:
        raise DataError(
            f"{root}: no DLRSD mask folder (looked for {', '.join(MASK_DIR_CANDIDATES)}); "
            "expected Images/<scene>/<name>.tif plus Labels/<scene>/<name>.png, or pass mask_dir="
        )
    return found


class DLRSD(MultiLabelDataset):
    """UCM images, labels derived from DLRSD masks (see module docstring)."""

    LAYOUT = "Images/<scene>/<name>.<tif|jpg|png> and Labels/<scene>/<name>.png (DLRSD)"

    def __init__(
        self,
        root: str | Path,
        mask_dir: str | Path | None = None,
        label_file: str | Path | None = None,
        min_fraction: float | None = None,
        strict: bool = True,
        transform: Callable | None = None,
        workers: int | None = None,
    ):
        root = Path(root)
        images_dir = find_images_dir(root, self.LAYOUT)
        if label_file is None and mask_dir is None and not any((root / c).is_dir() for c in MASK_DIR_CANDIDATES):
            label_file = find_label_file(root)
        images, ordered = sorted_images(images_dir, UCM_IMAGE_SUFFIXES)
        if label_file is not None:  # image-level labels from the release's multi-labels.xlsx (or any label file)
            table = reorder_classes(read_label_file(label_file), DLRSD_CLASSES)
            kept, labels, problems = labels_from_table(
                root, images_dir, images, ordered, table, source=Path(label_file), strict=strict
            )
            masks_dir, mask_paths = None, None
        else:
            masks_dir = Path(mask_dir) if mask_dir is not None else find_mask_dir(root)
            if not masks_dir.is_dir():
                raise DataError(f"{masks_dir}: mask folder not found")
            if masks_dir.resolve() == images_dir.resolve():
                raise DataError(f"{masks_dir}: the mask folder is the image folder; pass mask_dir=")
            options = {"min_fraction": min_fraction, "strict": strict, "workers": workers}
            kept, labels, problems, mask_paths = labels_from_masks(
                root, images_dir, images, ordered, masks_dir, read_dlrsd_mask, len(DLRSD_CLASSES), **options
            )
        fields = folder_fields(kept, labels, problems, images_dir)
        super().__init__(name="dlrsd", root=root, classes=DLRSD_CLASSES, transform=transform, **fields)
        self.mask_dir = masks_dir
        self.mask_paths = mask_paths
