"""What a run's network takes as input: 8-bit RGB, or N bands through a fixed radiometric rule.

8-bit RGB datasets (UCM, DLRSD, WHDLD; ``config.bands == "rgb"``, ``config.radiometry == {}``)
keep the original path unchanged: uint8 ``(N, 3, S, S)`` images
(:func:`mlrsir.data.cache.load_image_array`), :func:`mlrsir.data.transforms.augment_batch`,
ImageNet :func:`mlrsir.data.transforms.to_float_normalized`.

Multispectral datasets (BigEarthNet) go through :class:`InputSpec`:

* images: every patch's selected bands (``config.bands``) mapped to float32 0..255 by the
  run's radiometric rule (``config.radiometry``, :mod:`mlrsir.geo.radiometry`; never
  re-estimated from the data), resized to ``image_size`` (bilinear, antialiased,
  pixel-centre aligned) -> float32 ``(N, C, S, S)`` (:func:`load_band_array`, cached on disk);
* normalisation: :func:`mlrsir.models.in_chans.normalize_bands` (ImageNet mean/std on the
  R, G, B positions, their mean elsewhere);
* augmentation: the same random dihedral view and brightness/contrast jitter as
  ``augment_batch`` (:func:`augment_bands`), on values / 255;
* network: the first convolution widened to C bands with
  :func:`mlrsir.models.in_chans.widen_first_conv` (``init="mean"``: ImageNet filters on the
  R, G, B positions, the mean RGB filter on every other band, all scaled by 3 / C), unless
  the selection is exactly R, G, B in that order (then the stem is the ImageNet one).

The band order of the input is the order of ``config.bands`` (``"all"``: the dataset's
``ALL_BANDS``); a selection must contain the three RGB bands
(:func:`mlrsir.data.registry.canonical_bands`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from mlrsir.data.cache import cache_key, default_cache_dir, load_cached_array
from mlrsir.data.registry import DATASETS, dataset_bands, is_multispectral
from mlrsir.data.transforms import augment_batch, jitter_brightness_contrast, random_dihedral, to_float_normalized
from mlrsir.geo.radiometry import Radiometry
from mlrsir.io_atomic import open_atomic
from mlrsir.models.in_chans import normalize_bands


@dataclass(frozen=True)
class InputSpec:
    """The input of a run's network (module docstring).

    Attributes:
        bands: band names in input order; ``None`` for an 8-bit RGB dataset.
        rgb: positions of the R, G and B bands in the input.
        radiometry: the fixed rule (``None`` for 8-bit RGB datasets).
    """

    bands: tuple[str, ...] | None = None
    rgb: tuple[int, int, int] = (0, 1, 2)
    radiometry: Radiometry | None = None

    @property
    def multispectral(self) -> bool:
        return self.bands is not None

    @property
    def in_chans(self) -> int:
        return 3 if self.bands is None else len(self.bands)

    @property
    def widened(self) -> bool:
        """Whether the first convolution is widened (anything but R, G, B in that order)."""
        return self.multispectral and (self.in_chans, self.rgb) != (3, (0, 1, 2))

    def normalize(self, x) -> torch.Tensor:
        """uint8 RGB ``(B, 3, H, W)``: ImageNet :func:`to_float_normalized` (the 8-bit path,
        unchanged); float ``(B, C, H, W)`` in 0..255: :func:`normalize_bands` with ``rgb``."""
        x = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
        if x.dtype == torch.uint8 and x.shape[-3] == 3 and self.rgb == (0, 1, 2):
            return to_float_normalized(x)
        return normalize_bands(x, self.rgb)

    def augment(self, x: torch.Tensor, generator: torch.Generator, color_jitter: float) -> torch.Tensor:
        """uint8: :func:`augment_batch` (unchanged); float bands: :func:`augment_bands`."""
        if x.dtype == torch.uint8:
            return augment_batch(x, generator, color_jitter=color_jitter)
        return augment_bands(x, generator, color_jitter=color_jitter)

    def dataset_options(self) -> dict[str, Any]:
        """Options of :func:`mlrsir.data.registry.load_dataset` that select these bands and rule."""
        if not self.multispectral:
            return {}
        return {"bands": list(self.bands or ()), "radiometry": self.radiometry}

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (for ``meta.json``)."""
        return {
            "bands": list(self.bands) if self.bands else ["R", "G", "B"],
            "in_chans": self.in_chans,
            "rgb": list(self.rgb),
            "radiometry": self.radiometry.to_dict() if self.radiometry else {"kind": "uint8"},
            "first_conv": "widened, init=mean (models/in_chans.py)" if self.widened else "ImageNet RGB",
        }


def input_spec(config: Any) -> InputSpec:
    """The :class:`InputSpec` of a ``TrainConfig`` (configs without ``bands`` are 8-bit RGB)."""
    dataset = getattr(config, "dataset", None)
    if dataset is None or not is_multispectral(dataset):
        return InputSpec()
    bands = tuple(dataset_bands(dataset, getattr(config, "bands", "rgb")) or ())
    rgb_names = DATASETS[dataset].resolve_bands("rgb")  # type: ignore[attr-defined]
    rgb = tuple(bands.index(b) for b in rgb_names)
    radiometry = Radiometry.from_dict(dict(config.radiometry))
    return InputSpec(bands=bands, rgb=rgb, radiometry=radiometry)  # type: ignore[arg-type]


def resize_bands(x: torch.Tensor, size: int) -> torch.Tensor:
    """float ``(B, C, H, W)`` -> ``(B, C, size, size)`` float32 (bilinear, antialiased; no-op if same)."""
    x = x.float()
    if tuple(x.shape[-2:]) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def augment_bands(x: torch.Tensor, generator: torch.Generator | None = None, color_jitter: float = 0.1) -> torch.Tensor:
    """:func:`augment_batch` for float ``(B, C, S, S)`` in 0..255, any C: a random dihedral
    view per sample, then brightness/contrast jitter on ``x / 255`` (same random draws)."""
    if x.ndim != 4 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"augment_bands expects square (B, C, S, S), got {tuple(x.shape)}")
    out = random_dihedral(x, generator)
    if color_jitter <= 0:
        return out
    return jitter_brightness_contrast(out / 255.0, generator, color_jitter) * 255.0


def band_cache_path(dataset: Any, size: int, cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_band_array` stores ``dataset``'s array (key: the image cache key of the
    patch paths, sizes and mtimes, plus bands, radiometry and size)."""

    blob = json.dumps(
        {"paths": cache_key(dataset, size), "bands": list(dataset.band_names), "rule": dataset.radiometry.to_dict()},
        sort_keys=True,
    )
    key = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return folder / f"{dataset.name}-{len(dataset.band_names)}bands-{int(size)}px-{key}.npy"


def load_band_array(dataset: Any, size: int, cache_dir: str | Path | None = None, progress: bool = True) -> np.ndarray:
    """float32 ``(N, C, size, size)`` in 0..255: ``dataset.radiometry.apply(dataset.read_patch(i))``
    resized by :func:`resize_bands`; cached on disk (written atomically)."""

    size = int(size)
    target = band_cache_path(dataset, size, cache_dir)
    expected = (len(dataset), len(dataset.band_names), size, size)
    cached = load_cached_array(target, expected, np.float32)
    if cached is not None:
        return cached
    out = np.empty(expected, dtype=np.float32)
    for i in tqdm(range(len(dataset)), desc=f"reading bands ({size}px)", unit="patch", disable=not progress):
        values = torch.from_numpy(dataset.radiometry.apply(dataset.read_patch(i)))[None]
        out[i] = resize_bands(values, size)[0].numpy()
    try:
        with open_atomic(target, "wb") as handle:
            np.save(handle, out, allow_pickle=False)
    except OSError:
        pass  # a read-only cache is not fatal
    return out
