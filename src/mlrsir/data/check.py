"""``mlrsir data check``: a dataset report and its problems.

:func:`check_dataset` loads the dataset leniently (``strict=False``), decodes every
image and returns a :class:`CheckReport` with:

* counts: images, classes, per-class label frequency (count and % of images), labels per
  image (min / max / mean), number of distinct label sets, images per scene;
* ``problems`` (errors; ``report.ok`` is False when any list is non-empty):
  label rows without an image, images without a row (or mask/image mismatches for
  DLRSD/WHDLD), images without any label, unreadable image files (with the reason);
* ``info`` (not errors): image size histogram and the images whose size differs from the
  most common one (UCM has 44 such; the cache resizes every image anyway).

A label file that cannot be parsed, or a folder that is not the dataset, raises
``DataError`` (the CLI prints it and exits 2).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlrsir.data.images import read_rgb
from mlrsir.data.registry import load_dataset
from mlrsir.errors import DataError


@dataclass
class CheckReport:
    dataset: str
    root: str
    num_images: int
    num_classes: int
    classes: list[str]
    label_counts: dict[str, int]
    label_percent: dict[str, float]
    labels_per_image: dict[str, float]
    distinct_label_sets: int
    images_per_scene: dict[str, int] | None
    problems: dict[str, list[str]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def num_problems(self) -> int:
        return sum(len(v) for v in self.problems.values())

    @property
    def ok(self) -> bool:
        return self.num_problems == 0

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "root": self.root,
            "num_images": self.num_images,
            "num_classes": self.num_classes,
            "classes": self.classes,
            "label_counts": self.label_counts,
            "label_percent": self.label_percent,
            "labels_per_image": self.labels_per_image,
            "distinct_label_sets": self.distinct_label_sets,
            "images_per_scene": self.images_per_scene,
            "problems": self.problems,
            "num_problems": self.num_problems,
            "info": self.info,
            "ok": self.ok,
        }

    def format_text(self, max_listed: int = 10) -> str:
        lines = [
            f"dataset {self.dataset} at {self.root}",
            f"images: {self.num_images}",
            f"classes: {self.num_classes}",
            "label frequencies:",
        ]
        width = max((len(c) for c in self.classes), default=5)
        for name in self.classes:
            lines.append(f"  {name:<{width}}  {self.label_counts[name]:>6}  {self.label_percent[name]:5.1f} %")
        lpi = self.labels_per_image
        lines.append(
            f"labels per image: min {lpi['min']:g}, max {lpi['max']:g}, mean {lpi['mean']:.3f}; "
            f"{self.distinct_label_sets} distinct label sets"
        )
        if self.images_per_scene is not None:
            lines.append(f"scenes: {len(self.images_per_scene)}")
            scene_width = max((len(s) for s in self.images_per_scene), default=5)
            for scene, count in self.images_per_scene.items():
                lines.append(f"  {scene:<{scene_width}}  {count:>6}")
        sizes = self.info.get("sizes", {})
        if sizes:
            lines.append("image sizes (info): " + ", ".join(f"{k}: {v}" for k, v in sizes.items()))
        odd = self.info.get("odd_sizes", [])
        if odd:
            lines.append(f"images with another size (info, resized anyway): {len(odd)}")
            lines.extend(f"  {item}" for item in odd[:max_listed])
            if len(odd) > max_listed:
                lines.append(f"  ... {len(odd) - max_listed} more")
        lines.append(f"problems: {self.num_problems}")
        for kind, items in self.problems.items():
            if not items:
                continue
            lines.append(f"  {kind.replace('_', ' ')}: {len(items)}")
            lines.extend(f"    {item}" for item in items[:max_listed])
            if len(items) > max_listed:
                lines.append(f"    ... {len(items) - max_listed} more")
        return "\n".join(lines)


def _decode_sizes(paths: list[Path], workers: int, read_patch=None) -> list[tuple[int, int] | str]:
    """Decode every image: its (width, height), or the DataError message. ``read_patch``
    (multispectral datasets, e.g. BigEarthNet): ``index -> (bands, H, W)`` array reader."""

    def one(i: int):
        try:
            if read_patch is not None:
                shape = read_patch(i).shape
                return (int(shape[-1]), int(shape[-2]))
            return read_rgb(paths[i]).size
        except DataError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(one, range(len(paths))))


def check_dataset(
    name: str, root: str | Path, decode: bool = True, workers: int | None = None, **options
) -> CheckReport:
    """Build the report for dataset ``name`` at ``root`` (see module docstring)."""

    options.setdefault("strict", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mismatches are reported below instead
        dataset = load_dataset(name, root, **options)
    labels = dataset.labels.astype(np.int64)
    n, c = labels.shape
    counts = labels.sum(axis=0)
    per_image = labels.sum(axis=1)
    rel = dataset.relative_paths
    problems: dict[str, list[str]] = {k: list(v) for k, v in dataset.inconsistencies.items()}
    problems["images_without_labels"] = [rel[i] for i in np.flatnonzero(per_image == 0)]
    info: dict = {}
    if decode:
        results = _decode_sizes(
            dataset.paths, workers or min(8, os.cpu_count() or 1), getattr(dataset, "read_patch", None)
        )
        problems["unreadable_images"] = [r for r in results if isinstance(r, str)]
        sizes = [r for r in results if not isinstance(r, str)]
        histogram = Counter(f"{w}x{h}" for w, h in sizes)
        info["sizes"] = dict(histogram.most_common())
        if histogram:
            common = histogram.most_common(1)[0][0]
            info["odd_sizes"] = [
                f"{rel[i]} {r[0]}x{r[1]}"
                for i, r in enumerate(results)
                if not isinstance(r, str) and f"{r[0]}x{r[1]}" != common
            ]
    scenes = None
    if dataset.scenes is not None:
        scenes = dict(sorted(Counter(dataset.scenes).items()))
    return CheckReport(
        dataset=dataset.name,
        root=str(dataset.root),
        num_images=n,
        num_classes=c,
        classes=list(dataset.classes),
        label_counts={name: int(counts[j]) for j, name in enumerate(dataset.classes)},
        label_percent={name: round(100.0 * counts[j] / max(n, 1), 2) for j, name in enumerate(dataset.classes)},
        labels_per_image={
            "min": int(per_image.min()) if n else 0,
            "max": int(per_image.max()) if n else 0,
            "mean": round(float(per_image.mean()), 4) if n else 0.0,
        },
        distinct_label_sets=len({row.tobytes() for row in labels.astype(np.uint8)}),
        images_per_scene=scenes,
        problems=problems,
        info=info,
    )
