"""Dataset registry: ``load_dataset(name, root, **options)``.

``DATASETS`` maps the names used on the command line to the dataset classes:

* ``"ucm"``  -> :class:`mlrsir.data.ucm.UCMMultiLabel` (options: label_file, strict)
* ``"dlrsd"`` -> :class:`mlrsir.data.dlrsd.DLRSD` (options: mask_dir, min_fraction, strict)
* ``"whdld"`` -> :class:`mlrsir.data.whdld.WHDLD` (options: label_file, encoding,
  min_fraction, strict)

All accept ``transform=``. A root that does not hold the named dataset raises
``DataError`` saying which layout was expected. :data:`DEFAULT_DATASET` is the dataset
used when none is named (the one place that says so); names are case-insensitive
(:func:`normalize_dataset_name`).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from mlrsir.data.base import MultiLabelDataset
from mlrsir.data.dlrsd import DLRSD
from mlrsir.data.ucm import UCMMultiLabel
from mlrsir.data.whdld import WHDLD
from mlrsir.errors import ConfigError

DATASETS: dict[str, type[MultiLabelDataset]] = {
    "ucm": UCMMultiLabel,
    "dlrsd": DLRSD,
    "whdld": WHDLD,
}

DEFAULT_DATASET = "ucm"


def normalize_dataset_name(name: str) -> str:
    """The registry name of ``name`` (case-insensitive); ConfigError listing the choices."""
    key = str(name).lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return key


def dataset_note(name: str) -> str:
    """The caveat of dataset ``name`` (its class' ``NOTE``; ``""`` when none)."""
    return DATASETS[normalize_dataset_name(name)].NOTE


def load_dataset(name: str, root: str | Path, **options) -> MultiLabelDataset:
    """Build dataset ``name`` (one of :data:`DATASETS`) from folder ``root``."""
    key = normalize_dataset_name(name)
    cls = DATASETS[key]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "root")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(f"dataset {key!r}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}")
    return cls(root, **options)
