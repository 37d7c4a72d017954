"""UC Merced Land Use with the 17-class image-level multi-labels (Chaudhuri et al. 2018).

Expected layout (the original release; the image folder may also sit in
``UCMerced_LandUse/``)::

    ROOT/Images/<scene>/<name>.<tif|tiff|jpg|jpeg|png>     21 scenes x 100 images
    ROOT/LandUse_Multilabeled.txt                           header + one row per image

The label file is looked for as ``LandUse_Multilabeled.txt``, then ``.xlsx``, then
``.mat`` (``LandUse_Multilabeled.mat`` or the release's ``LandUse_multilabels.mat``) in
``ROOT``, ``ROOT/multilabels`` and ``ROOT/UCMerced_LandUse``; ``label_file=`` names it
explicitly (formats: :mod:`mlrsir.data.labels`). A ``.mat`` has no names inside: its
columns follow the release order, the sorted order of the image names (``agricultural00``
... ``tenniscourt99``, :func:`mlrsir.data.labels.ucm_release_names`), so each column gets
its implied name and all formats are matched by image name alike.

Images and label rows are matched by image name (file stem). Rows without an image and
images without a row are errors (``DataError`` listing a few) unless ``strict=False``,
which drops them with a warning and records them in ``inconsistencies``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlrsir.data.base import MultiLabelDataset, first_existing, folder_fields, labels_from_table, sorted_images
from mlrsir.data.labels import read_label_file
from mlrsir.errors import DataError

#: The 17 classes of the UCM multi-label file (and DLRSD), in file order.
UCM_CLASSES = [
    "airplane",
    "bare_soil",
    "buildings",
    "cars",
    "chaparral",
    "court",
    "dock",
    "field",
    "grass",
    "mobile_home",
    "pavement",
    "sand",
    "sea",
    "ship",
    "tanks",
    "trees",
    "water",
]

LABEL_FILE_NAMES = (
    "LandUse_Multilabeled.txt",
    "LandUse_Multilabeled.xlsx",
    "LandUse_Multilabeled.mat",
    "LandUse_multilabels.mat",  # the name of the .mat in the original release
)

UCM_IMAGE_SUFFIXES = (".tif", ".tiff", ".jpg", ".jpeg", ".png")


def find_images_dir(root: Path, expected: str) -> Path:
    """``ROOT/Images`` or ``ROOT/UCMerced_LandUse/Images``; DataError otherwise."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found (expected {expected})")
    found = first_existing((root / "Images", root / "UCMerced_LandUse" / "Images"), folder=True)
    if found is None:
        raise DataError(f"{root}: no 'Images' folder; expected {expected}")
    return found


def find_label_file(root: Path) -> Path:
    """The UCM label file below ``root`` (see module docstring)."""
    folders = (root, root / "multilabels", root / "UCMerced_LandUse")
    found = first_existing(folder / name for folder in folders for name in LABEL_FILE_NAMES)
    if found is None:
        raise DataError(
            f"{root}: no label file found (expected {LABEL_FILE_NAMES[0]}, .xlsx or .mat next "
            "to the Images folder; or pass label_file=)"
        )
    return found


class UCMMultiLabel(MultiLabelDataset):
    """UCM images + image-level multi-labels; ``scenes`` = scene folder per image."""

    LAYOUT = "Images/<scene>/<name>.<tif|jpg|png> and LandUse_Multilabeled.txt (UCM multi-label)"
    NOTE = (
        "UC Merced images with the 17-class image-level multi-labels of Chaudhuri et al. 2018 "
        "(LandUse_Multilabeled.txt): the same classes as DLRSD, not DLRSD's own label vectors"
    )

    def __init__(
        self,
        root: str | Path,
        label_file: str | Path | None = None,
        strict: bool = True,
        transform: Callable | None = None,
    ):
        root = Path(root)
        images_dir = find_images_dir(root, self.LAYOUT)
        label_path = Path(label_file) if label_file is not None else find_label_file(root)
        images, ordered = sorted_images(images_dir, UCM_IMAGE_SUFFIXES)
        table = read_label_file(label_path, [p.stem for p in ordered], UCM_CLASSES)
        kept, labels, problems = labels_from_table(
            root, images_dir, images, ordered, table, source=label_path, strict=strict
        )
        fields = folder_fields(kept, labels, problems, images_dir)
        super().__init__(name="ucm", root=root, classes=table.classes, transform=transform, **fields)
        self.label_file = label_path
