"""Dataset registry: ``load_dataset(name, root, **options)``.

``DATASETS`` maps the names used on the command line to the dataset classes:

* ``"ucm"``  -> :class:`mlrsir.data.ucm.UCMMultiLabel` (options: label_file, strict)
* ``"dlrsd"`` -> :class:`mlrsir.data.dlrsd.DLRSD` (options: mask_dir, min_fraction, strict)
* ``"whdld"`` -> :class:`mlrsir.data.whdld.WHDLD` (options: label_file, encoding,
  min_fraction, strict)
* ``"bigearthnet"`` -> :class:`mlrsir.data.bigearthnet.BigEarthNet` (options: bands,
  nomenclature, strict, radiometry); ``root`` is a v1-release folder, a npz folder with
  ``labels.json``, or a folder holding such folders (all read together).

Multispectral datasets (those with a ``RADIOMETRY`` class attribute, a
:class:`mlrsir.geo.radiometry.Radiometry`) take a band selection: :func:`dataset_bands`.
The others are 8-bit RGB and accept only ``bands="rgb"``.

All accept ``transform=``. A root that does not hold the named dataset raises
``DataError`` saying which layout was expected. :data:`DEFAULT_DATASET` is the dataset
used when none is named (the one place that says so); names are case-insensitive
(:func:`normalize_dataset_name`).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from mlrsir.data.base import MultiLabelDataset
from mlrsir.data.bigearthnet import BigEarthNet
from mlrsir.data.dlrsd import DLRSD
from mlrsir.data.ucm import UCMMultiLabel
from mlrsir.data.whdld import WHDLD
from mlrsir.errors import ConfigError, registered_name

DATASETS: dict[str, type[MultiLabelDataset]] = {
    "ucm": UCMMultiLabel,
    "dlrsd": DLRSD,
    "whdld": WHDLD,
    "bigearthnet": BigEarthNet,
}

DEFAULT_DATASET = "ucm"


def normalize_dataset_name(name: str) -> str:
    """The registry name of ``name`` (case-insensitive); ConfigError listing the choices."""
    return registered_name(name, DATASETS, "dataset")


def dataset_note(name: str) -> str:
    """The caveat of dataset ``name`` (its class' ``NOTE``; ``""`` when none)."""
    return DATASETS[normalize_dataset_name(name)].NOTE


def is_multispectral(name: str) -> bool:
    """Whether dataset ``name`` is read as bands through a fixed radiometric rule (not 8-bit RGB)."""
    return getattr(DATASETS[normalize_dataset_name(name)], "RADIOMETRY", None) is not None


def dataset_bands(name: str, bands: str) -> list[str] | None:
    """The band names ``bands`` (``"rgb"``, ``"all"`` or ``"B02,B03,..."``) selects from dataset
    ``name``; ``None`` for an 8-bit RGB dataset (where only ``"rgb"`` is valid: ConfigError)."""
    cls = DATASETS[normalize_dataset_name(name)]
    if not is_multispectral(name):
        if str(bands).strip().lower() != "rgb":
            raise ConfigError(f"--bands {bands}: dataset {name!r} is 8-bit RGB; only 'rgb' is accepted")
        return None
    return list(cls.resolve_bands(bands))


def canonical_bands(name: str, bands: str) -> str:
    """``bands`` as stored in a run's config: ``"rgb"``, ``"all"`` or ``"B02,B03,..."`` (upper
    case, in the given order). ConfigError for unknown names, for anything but ``"rgb"`` on an
    8-bit dataset, and for a selection without the three RGB bands (the widened first
    convolution puts the ImageNet filters on them: :mod:`mlrsir.models.in_chans`)."""
    names = dataset_bands(name, bands)
    if names is None:
        return "rgb"
    cls = DATASETS[normalize_dataset_name(name)]
    rgb, everything = list(cls.resolve_bands("rgb")), list(cls.resolve_bands("all"))
    missing = [b for b in rgb if b not in names]
    if missing or len(set(names)) != len(names):
        raise ConfigError(
            f"--bands {bands}: a band selection must hold {', '.join(rgb)} (the RGB bands) once each"
            + (f"; missing {', '.join(missing)}" if missing else "")
        )
    if names == rgb:
        return "rgb"
    return "all" if names == everything else ",".join(names)


def dataset_radiometry(name: str, given: dict | None = None) -> dict:
    """The radiometric rule of a run on dataset ``name`` as a dict (``{}`` for 8-bit RGB
    datasets): ``given`` validated, or the dataset's fixed ``RADIOMETRY``."""
    cls = DATASETS[normalize_dataset_name(name)]
    rule = getattr(cls, "RADIOMETRY", None)
    if rule is None:
        if given:
            raise ConfigError(f"radiometry {dict(given)}: dataset {name!r} is 8-bit RGB and takes none")
        return {}
    return type(rule).from_dict(dict(given)).to_dict() if given else rule.to_dict()


def load_dataset(name: str, root: str | Path, **options) -> MultiLabelDataset:
    """Build dataset ``name`` (one of :data:`DATASETS`) from folder ``root``."""
    key = normalize_dataset_name(name)
    cls = DATASETS[key]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "root")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {key!r}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    return cls(root, **options)
