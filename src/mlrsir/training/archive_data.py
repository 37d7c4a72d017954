"""Training data from anything that can be indexed: ``mlrsir train --supervision none --images PATH...``.

The inputs are read through the same sources as ``mlrsir index build --images``
(:func:`mlrsir.sources.input_sources`): plain image files and folders of them (no
label file: none is looked for or opened), and raster scenes (GeoTIFF/COG files, band
folders, STAC Item ``.json``) cut into tiles with the run's ``tile``/``stride``/
``scene_bands`` (the ``--tile/--stride/--bands`` of ``index build``) and mapped to 8-bit
RGB by ``scene_radiometry`` (``auto``: each scene's default rule, as a new index fixes it).
Every item is resized to ``image_size`` with the cache's exact resize
(:func:`mlrsir.data.images.rgb_to_uint8_array`), so training sees what the encoder of
``index build`` sees.

The result is an :class:`ArchiveImages` (the dataset interface training needs, with no
classes and a ``(N, 0)`` label array) and a split putting every item into training
(nothing to evaluate against without labels), saved beside the run as ``split.json``.
Memory: ``N * 3 * image_size**2`` bytes of images, whatever the rasters' size (tiles are
streamed a batch at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from mlrsir.data.images import rgb_to_uint8_array
from mlrsir.data.splits import Split, load_split, save_split
from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.archive import parse_radiometry
from mlrsir.sources import TileOptions, input_sources

NOTE = (
    "trained on --images without labels (--supervision none): no retrieval metrics, no predicted labels "
    "or label search from this run"
)


class ArchiveImages:
    """The items of ``--images`` as a label-free dataset.

    Attributes:
        name: ``"images"``.
        root: the first input (``Path``).
        classes: ``[]`` (no labels).
        item_paths: ``list[str]`` of N item paths as an index stores them (absolute image
            file paths, or ``SCENE_PATH#col,row,width,height`` tile ids).
        labels: ``np.ndarray (N, 0) uint8``.
        scenes: ``None``.
    """

    NOTE = NOTE

    def __init__(self, root: Path, item_paths: list[str]):
        self.name = "images"
        self.root = Path(root)
        self.classes: list[str] = []
        self.item_paths = list(item_paths)
        self.labels = np.zeros((len(self.item_paths), 0), dtype=np.uint8)
        self.scenes = None
        self.inconsistencies: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self.item_paths)

    @property
    def relative_paths(self) -> list[str]:
        """The item paths (the names ``split.json`` records and checks)."""
        return list(self.item_paths)


def tile_options(config: Any):
    """The :class:`mlrsir.sources.TileOptions` of a run's ``tile``/``stride``/``scene_bands``."""

    return TileOptions(tile=int(config.tile), stride=config.stride, bands=config.scene_bands)


def load_archive_images(
    config: Any, progress: bool = True, log: Callable[[str], None] = print
) -> tuple[ArchiveImages, np.ndarray]:
    """``(dataset, images (N, 3, S, S) uint8)`` of ``config.images`` (module docstring).

    Raises DataError naming the inputs when they hold no readable image or non-empty tile.
    """
    from PIL import Image  # noqa: PLC0415 (PIL only on this path)

    inputs = [str(p) for p in config.images]
    if not inputs:
        raise ConfigError("training from --images needs at least one path")
    sources = input_sources(
        inputs,
        tile_options(config),
        radiometry=parse_radiometry(config.scene_radiometry),
        labels_by_name=None,  # the label file is never opened: supervision none
        log=log,
    )
    names: list[str] = []
    arrays: list[np.ndarray] = []
    bar = tqdm(desc="read --images", unit="img", disable=not progress, dynamic_ncols=True)
    for source in sources:
        for path, rgb, _meta in source.iter_images(log=log):
            arrays.append(rgb_to_uint8_array(Image.fromarray(rgb), int(config.image_size)))
            names.append(path)
            bar.update(1)
    bar.close()
    if len(names) < 2:
        raise DataError(
            f"{' '.join(inputs)}: found {len(names)} readable image(s) or non-empty tile(s); "
            "training needs at least 2 (.jpg/.jpeg/.png/.tif/.tiff images, rasters, band folders or STAC Items)"
        )
    images = np.stack(arrays) if arrays else np.zeros((0, 3, config.image_size, config.image_size), np.uint8)
    return ArchiveImages(Path(inputs[0]).resolve(), names), images


def archive_split(dataset: ArchiveImages, split_path: Path, seed: int):
    """The run's split of ``dataset``: every item trains (``val`` and ``test`` empty); an
    existing ``split_path`` is loaded and checked against the items, else it is written."""

    split_path = Path(split_path)
    if split_path.exists():
        return load_split(split_path, dataset)
    n = len(dataset)
    empty = np.zeros(0, dtype=np.int64)
    split = Split(
        train=np.arange(n, dtype=np.int64),
        val=empty,
        test=empty.copy(),
        seed=int(seed),
        method="all-train",
        dataset=dataset.name,
        test_fraction=0.0,
        val_fraction=0.0,
        names=dataset.relative_paths,
    )
    split.validate()
    save_split(split, split_path)
    return split
