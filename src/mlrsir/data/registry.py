"""Dataset registry: ``load_dataset(name, root, **options)``.

``DATASETS`` maps the names used on the command line to the dataset classes:

* ``"ucm"``  -> :class:`mlrsir.data.ucm.UCMMultiLabel` (options: label_file, strict)
* ``"dlrsd"`` -> :class:`mlrsir.data.dlrsd.DLRSD` (options: mask_dir, min_fraction, strict)
* ``"whdld"`` -> :class:`mlrsir.data.whdld.WHDLD` (options: label_file, encoding,
  min_fraction, strict)

All accept ``transform=``. A root that does not hold the named dataset raises
``DataError`` saying which layout was expected.
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


def load_dataset(name: str, root: str | Path, **options) -> MultiLabelDataset:
    """Build dataset ``name`` (one of :data:`DATASETS`) from folder ``root``."""
    key = str(name).lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    cls = DATASETS[key]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "root")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"dataset {key!r}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )
    return cls(root, **options)
