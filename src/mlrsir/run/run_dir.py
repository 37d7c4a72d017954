"""Layout of a run directory and the bookkeeping written beside every result.

``RUN_DIR/``
    ``config.json``        resolved :class:`~mlrsir.run.config.TrainConfig`
    ``split.json``         the split used (indices + image names)
    ``meta.json``          git revision, package versions, host, timings
    ``model.safetensors``  final network weights
    ``method.safetensors`` method state (codebooks of quantizer methods), when any
    ``checkpoint/``        resume state (weights, optimiser, step)
    ``label_scorer.npz``   codes + labels of the training items, for label transfer (written by ``train``)
    ``codes.npz``          codes of every image (``mlrsir encode``)
    ``metrics.json``       final retrieval metrics
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy

from mlrsir import __version__, io_atomic
from mlrsir.errors import ConfigError


class RunPaths:
    """Names of the files of a run directory."""

    def __init__(self, run_dir: str | os.PathLike):
        self.root = Path(run_dir)
        self.config = self.root / "config.json"
        self.split = self.root / "split.json"
        self.meta = self.root / "meta.json"
        self.model = self.root / "model.safetensors"
        self.method = self.root / "method.safetensors"
        self.checkpoint = self.root / "checkpoint"
        self.codes = self.root / "codes.npz"
        self.metrics = self.root / "metrics.json"

    def is_finished(self) -> bool:
        return self.metrics.is_file() and self.model.is_file()

    def is_run(self) -> bool:
        """Whether the folder was started by ``mlrsir train`` (it writes ``config.json`` first)."""
        return self.config.is_file()


def check_output_folder(run_dir: str | os.PathLike) -> None:
    """Refuse to train into a folder mlrsir did not create.

    A missing or empty folder is fine, and so is a run of mlrsir (resumed or reused). Any
    other folder (a file, or a non-empty folder without ``config.json``) raises
    :class:`~mlrsir.errors.ConfigError`: training there would overwrite ``split.json``,
    ``meta.json``, ``model.safetensors`` and the checkpoint folders of whoever owns it.
    """

    paths = RunPaths(run_dir)
    root = paths.root
    if not root.exists():
        return
    if not root.is_dir():
        raise ConfigError(f"{root}: --out is a file, not a folder; give a new or empty folder for the run")
    if paths.is_run() or not any(root.iterdir()):
        return
    raise ConfigError(
        f"{root}: not empty and not an mlrsir run (no config.json); mlrsir writes and replaces files "
        "in its run folder, so it will not train here. Give a new or empty folder as --out "
        "(to resume an interrupted run, give that run's own folder)"
    )


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (see :mod:`mlrsir.io_atomic`); numpy values become JSON."""
    io_atomic.write_json_atomic(path, data, indent=2, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, numpy.generic):
        return obj.item()
    if isinstance(obj, numpy.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def git_revision() -> dict[str, Any]:
    """Revision of the source tree mlrsir runs from (``unknown`` outside a git checkout)."""
    src = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=src,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"revision": "unknown", "dirty": None}
    return {"revision": rev or "unknown", "dirty": bool(dirty) if rev else None}


def environment() -> dict[str, Any]:
    """Versions and host facts written into ``meta.json``."""
    import torch  # noqa: PLC0415 (torch only on this path)

    return {
        "mlrsir": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "command": sys.argv,
    }
