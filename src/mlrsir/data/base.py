"""The common dataset object and helpers for finding image files.

A :class:`MultiLabelDataset` is a plain list of images with image-level labels:

* ``name``: ``"ucm"`` / ``"dlrsd"`` / ``"whdld"``
* ``root``: the dataset folder (``Path``)
* ``classes``: ``list[str]`` of C normalised class names
* ``paths``: ``list[Path]`` of N image files, sorted by relative path
* ``labels``: ``np.ndarray (N, C) uint8`` in {0, 1}
* ``scenes``: ``list[str]`` (UCM scene folder per image) or ``None``
* ``transform``: callable applied to the PIL RGB image in ``__getitem__`` (or None)
* ``inconsistencies``: ``dict[str, list[str]]`` of what was dropped while matching
  images to labels (e.g. ``"rows_without_image"``); empty when everything matched.
* ``NOTE`` (class attribute): caveat about the data written into a run's ``meta.json``
  and the benchmark report (``""`` when there is none).

``dataset[i]`` -> ``{"image": transform(PIL RGB) or PIL RGB, "labels": torch.float32
(C,), "index": i, "path": str}``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlrsir.data.images import IMAGE_SUFFIXES, read_rgb
from mlrsir.data.masks import labels_from_index_mask, map_parallel
from mlrsir.errors import DataError

#: File endings of segmentation masks (DLRSD, WHDLD).
MASK_SUFFIXES = (".png", ".tif", ".tiff")


class MultiLabelDataset:
    """N images, C classes, binary image-level labels (see module docstring)."""

    NOTE = ""

    def __init__(
        self,
        name: str,
        root: Path,
        classes: list[str],
        paths: list[Path],
        labels: np.ndarray,
        scenes: list[str] | None = None,
        transform: Callable | None = None,
        inconsistencies: dict[str, list[str]] | None = None,
    ):
        labels = np.asarray(labels, dtype=np.uint8)
        if labels.shape != (len(paths), len(classes)):
            raise ValueError(f"labels shape {labels.shape} != ({len(paths)}, {len(classes)})")
        if scenes is not None and len(scenes) != len(paths):
            raise ValueError("scenes must have one entry per image")
        self.name = name
        self.root = Path(root)
        self.classes = list(classes)
        self.paths = [Path(p) for p in paths]
        self.labels = labels
        self.scenes = list(scenes) if scenes is not None else None
        self.transform = transform
        self.inconsistencies = {k: v for k, v in (inconsistencies or {}).items() if v}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        import torch  # noqa: PLC0415 (torch only on this path)

        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        image = read_rgb(self.paths[index])
        if self.transform is not None:
            image = self.transform(image)
        return {
            "image": image,
            "labels": torch.from_numpy(self.labels[index].astype(np.float32)),
            "index": index,
            "path": str(self.paths[index]),
        }

    @property
    def relative_paths(self) -> list[str]:
        """Image paths relative to ``root`` as POSIX strings (stable across copies)."""
        out = []
        for path in self.paths:
            try:
                out.append(path.relative_to(self.root).as_posix())
            except ValueError:
                out.append(path.as_posix())
        return out

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root={str(self.root)!r}, images={len(self)}, classes={len(self.classes)})"


def index_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> dict[str, Path]:
    """Map file stem -> path for all files below ``folder`` with one of ``suffixes``.

    Raises DataError when two files share a stem (e.g. ``x.jpg`` and ``x.tif``, or the
    same name in two scene folders): labels are keyed by stem, so this is ambiguous.
    """
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in suffixes or path.name.startswith("."):
            continue
        stem = path.stem
        if stem in found:
            raise DataError(f"{folder}: two files for image name {stem!r}: {found[stem]} and {path}")
        found[stem] = path
    return found


def scene_of(path: Path, images_dir: Path) -> str | None:
    """First folder below ``images_dir`` (the UCM scene), or None for a flat folder."""
    parts = path.relative_to(images_dir).parts
    return parts[0] if len(parts) > 1 else None


def scenes_below(paths: list[Path], images_dir: Path) -> list[str] | None:
    """The scene folder of each image (:func:`scene_of`), or None unless every image has one."""
    scenes = [scene_of(p, images_dir) for p in paths]
    return None if any(s is None for s in scenes) else [s for s in scenes if s is not None]


def resolve_mismatch(
    what: str,
    problems: dict[str, list[str]],
    strict: bool,
) -> None:
    """Raise (strict) or warn about images and label entries that do not match.

    ``problems`` maps a kind (e.g. ``"rows_without_image"``) to the names concerned.
    """
    problems = {k: v for k, v in problems.items() if v}
    if not problems:
        return
    parts = []
    for kind, names in problems.items():
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        parts.append(f"{len(names)} {kind.replace('_', ' ')} ({shown})")
    message = f"{what}: " + "; ".join(parts)
    if strict:
        raise DataError(message + " - fix the files, or pass strict=False to drop them")
    warnings.warn(message + " - dropped (strict=False)", stacklevel=3)


def first_existing(candidates, *, folder: bool = False) -> Path | None:
    """The first of ``candidates`` (paths) that is an existing file (or folder), else None."""
    for path in candidates:
        if Path(path).is_dir() if folder else Path(path).is_file():
            return Path(path)
    return None


def sorted_images(images_dir: Path, suffixes: tuple[str, ...]) -> tuple[dict[str, Path], list[Path]]:
    """The image files below ``images_dir`` by stem (:func:`index_files`) and sorted by
    relative path; DataError naming the folder when there are none."""
    images = index_files(images_dir, suffixes)
    if not images:
        raise DataError(f"{images_dir}: no image files ({', '.join(suffixes)})")
    return images, sorted(images.values(), key=lambda p: p.relative_to(images_dir).as_posix())


def match_images(
    root: Path,
    images_dir: Path,
    images: dict[str, Path],
    ordered: list[Path],
    partners: dict[str, str],
    *,
    kind: str,
    source: Path,
    strict: bool,
) -> tuple[list[Path], dict[str, list[str]]]:
    """The images of ``ordered`` that have a partner (a label row or a mask) of the same stem.

    Args:
        images: stem -> image path; ``ordered``: the same images in dataset order.
        partners: stem -> the name shown for it in a mismatch message, in listing order.
        kind: ``"row"`` or ``"mask"``: names the problem kinds
            (``"{kind}s_without_image"``, ``"images_without_{kind}"``).
        source: the label file or mask folder, named in the errors.

    Returns:
        ``(kept, problems)``; mismatches raise (``strict``) or warn (:func:`resolve_mismatch`),
        and no match at all is a DataError.
    """
    problems = {
        f"{kind}s_without_image": [name for stem, name in partners.items() if stem not in images],
        f"images_without_{kind}": [p.relative_to(root).as_posix() for p in ordered if p.stem not in partners],
    }
    resolve_mismatch(f"{source} vs {images_dir}", problems, strict)
    kept = [p for p in ordered if p.stem in partners]
    if not kept:
        raise DataError(f"{source}: no {kind} matches an image in {images_dir}")
    return kept, problems


def labels_from_table(
    root: Path,
    images_dir: Path,
    images: dict[str, Path],
    ordered: list[Path],
    table,
    *,
    source: Path,
    strict: bool,
) -> tuple[list[Path], np.ndarray, dict[str, list[str]]]:
    """The images of ``ordered`` matched by stem to the rows of ``table`` (a
    :class:`mlrsir.data.labels.LabelTable`), see :func:`match_images`.

    Returns:
        ``(kept, labels, problems)``: ``labels`` is ``(len(kept), C)`` uint8 in {0, 1}, the
        table's row of each kept image.
    """
    rows = table.row_of()
    partners = {name: name for name in table.names}
    kept, problems = match_images(root, images_dir, images, ordered, partners, kind="row", source=source, strict=strict)
    return kept, np.stack([table.labels[rows[p.stem]] for p in kept]).astype(np.uint8), problems


def labels_from_masks(
    root: Path,
    images_dir: Path,
    images: dict[str, Path],
    ordered: list[Path],
    masks_dir: Path,
    read_mask: Callable[[Path], np.ndarray],
    num_classes: int,
    *,
    min_fraction: float | None,
    strict: bool,
    workers: int | None,
) -> tuple[list[Path], np.ndarray, dict[str, list[str]], list[Path]]:
    """The images of ``ordered`` matched by stem to the segmentation masks in ``masks_dir``
    (:data:`MASK_SUFFIXES`), labelled by the classes their mask shows.

    Args:
        read_mask: mask file -> ``(H, W)`` int class-index array (values in ``[0, num_classes)``).
        min_fraction: see :func:`mlrsir.data.masks.labels_from_index_mask`.
        workers: threads reading the masks (:func:`mlrsir.data.masks.map_parallel`).

    Returns:
        ``(kept, labels, problems, mask_paths)``: ``labels`` is ``(len(kept), num_classes)``
        uint8 in {0, 1}; ``mask_paths`` the mask of each kept image.
    """
    masks = index_files(masks_dir, MASK_SUFFIXES)
    partners = shown_paths(masks, root)
    kept, problems = match_images(
        root, images_dir, images, ordered, partners, kind="mask", source=masks_dir, strict=strict
    )

    def image_labels(path: Path) -> np.ndarray:
        return labels_from_index_mask(read_mask(masks[path.stem]), num_classes, min_fraction)

    labels = np.stack(map_parallel(image_labels, kept, workers)).astype(np.uint8)
    return kept, labels, problems, [masks[p.stem] for p in kept]


def folder_fields(kept: list[Path], labels: np.ndarray, problems: dict[str, list[str]], images_dir: Path) -> dict:
    """The :class:`MultiLabelDataset` fields of images kept below ``images_dir`` with their
    labels: ``paths``, ``labels``, ``scenes`` (:func:`scenes_below`) and ``inconsistencies``."""
    return {"paths": kept, "labels": labels, "scenes": scenes_below(kept, images_dir), "inconsistencies": problems}


def shown_paths(paths: dict[str, Path], root: Path) -> dict[str, str]:
    """stem -> path relative to ``root`` (or absolute when outside it), sorted by stem."""
    return {s: (m.relative_to(root).as_posix() if m.is_relative_to(root) else str(m)) for s, m in sorted(paths.items())}
