"""DLRSD (Shao et al. 2018): the UCM images with pixel-wise masks of the 17 classes.

Layouts accepted (the UCM images as in :mod:`mlrsir.data.ucm`, masks next to them)::

    ROOT/Images/<scene>/<name>.<tif|jpg|png>        the UCM images
    one of (first found; or ``mask_dir=``):
    ROOT/Labels/<scene>/<name>.png                  masks in their own folder
    ROOT/DLRSD/Images/<scene>/<name>.png            the DLRSD release unpacked into ROOT/DLRSD
    ROOT/DLRSD/Labels/<scene>/<name>.png
    ROOT/masks/<scene>/<name>.png, ROOT/Masks/...

Masks are matched to images by file name (stem), wherever they sit below the mask
folder. Each is single-channel (mode L, palette indices of mode P, or 16-bit) with
values ``1..17`` = :data:`DLRSD_CLASSES` in this order and ``0`` = unlabelled; any other
value is a ``DataError`` naming the file and the value. Image-level label = class
covers >= 1 pixel, or >= ``min_fraction`` of the pixels when given
(:func:`mlrsir.data.masks.labels_from_index_mask`). ``scenes`` are the image folders.

Images without a mask / masks without an image: ``DataError`` unless ``strict=False``
(dropped with a warning, recorded in ``inconsistencies``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlrsir.data.base import MultiLabelDataset, index_files, resolve_mismatch, scene_of
from mlrsir.data.masks import labels_from_index_mask, map_parallel, read_index_mask
from mlrsir.data.ucm import UCM_CLASSES, UCM_IMAGE_SUFFIXES, find_images_dir
from mlrsir.errors import DataError

#: Mask value v (1..17) is DLRSD_CLASSES[v - 1]; same order as the UCM label file.
DLRSD_CLASSES = list(UCM_CLASSES)

MASK_DIR_CANDIDATES = ("Labels", "DLRSD/Images", "DLRSD/Labels", "masks", "Masks")
MASK_SUFFIXES = (".png", ".tif", ".tiff")


def find_mask_dir(root: Path) -> Path:
    for candidate in MASK_DIR_CANDIDATES:
        if (root / candidate).is_dir():
            return root / candidate
    raise DataError(
        f"{root}: no DLRSD mask folder (looked for {', '.join(MASK_DIR_CANDIDATES)}); "
        "expected Images/<scene>/<name>.tif plus Labels/<scene>/<name>.png, or pass mask_dir="
    )


class DLRSD(MultiLabelDataset):
    """UCM images, labels derived from DLRSD masks (see module docstring)."""

    LAYOUT = "Images/<scene>/<name>.<tif|jpg|png> and Labels/<scene>/<name>.png (DLRSD)"

    def __init__(
        self,
        root: str | Path,
        mask_dir: str | Path | None = None,
        min_fraction: float | None = None,
        strict: bool = True,
        transform: Callable | None = None,
        workers: int | None = None,
    ):
        root = Path(root)
        images_dir = find_images_dir(root, self.LAYOUT)
        masks_dir = Path(mask_dir) if mask_dir is not None else find_mask_dir(root)
        if not masks_dir.is_dir():
            raise DataError(f"{masks_dir}: mask folder not found")
        if masks_dir.resolve() == images_dir.resolve():
            raise DataError(f"{masks_dir}: the mask folder is the image folder; pass mask_dir=")
        images = index_files(images_dir, UCM_IMAGE_SUFFIXES)
        masks = index_files(masks_dir, MASK_SUFFIXES)
        if not images:
            raise DataError(f"{images_dir}: no image files")
        ordered = sorted(images.values(), key=lambda p: p.relative_to(images_dir).as_posix())
        problems = {
            "images_without_mask": [p.relative_to(root).as_posix() for p in ordered if p.stem not in masks],
            "masks_without_image": [
                m.relative_to(root).as_posix() if m.is_relative_to(root) else str(m)
                for s, m in sorted(masks.items())
                if s not in images
            ],
        }
        resolve_mismatch(f"{images_dir} vs {masks_dir}", problems, strict)
        kept = [p for p in ordered if p.stem in masks]
        if not kept:
            raise DataError(f"{masks_dir}: no mask matches an image in {images_dir}")
        num_classes = len(DLRSD_CLASSES)

        def image_labels(path: Path) -> np.ndarray:
            mask = read_index_mask(masks[path.stem], num_classes)
            return labels_from_index_mask(mask, num_classes, min_fraction)

        labels = np.stack(map_parallel(image_labels, kept, workers)).astype(np.uint8)
        scenes = [scene_of(p, images_dir) for p in kept]
        super().__init__(
            name="dlrsd",
            root=root,
            classes=DLRSD_CLASSES,
            paths=kept,
            labels=labels,
            scenes=scenes if all(s is not None for s in scenes) else None,
            transform=transform,
            inconsistencies={k: v for k, v in problems.items() if v},
        )
        self.mask_dir = masks_dir
        self.mask_paths = [masks[p.stem] for p in kept]
