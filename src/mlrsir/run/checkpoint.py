"""Safe saving and loading of weights and resume state.

Weights are stored with safetensors (no code can run on load). The optimiser state is a
plain ``torch.save`` file loaded with ``weights_only=True``, which refuses anything but
tensors and plain containers, so a crafted pickle cannot execute code.

A checkpoint is a folder written next to its final place and swapped in by renames, so an
interruption leaves either the previous checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from mlrsir.errors import ConfigError
from mlrsir.io_atomic import atomic_path


def save_tensors(tensors: dict[str, Any], path: Path) -> None:
    """Save a flat dict of tensors / numpy arrays as safetensors (atomic)."""
    clean = {}
    for key, value in tensors.items():
        t = torch.as_tensor(np.asarray(value)) if not isinstance(value, torch.Tensor) else value
        clean[key] = t.detach().cpu().contiguous()
    with atomic_path(path) as tmp:
        save_file(clean, str(tmp))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file raises ConfigError naming it."""
    try:
        return load_file(str(path))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except Exception as exc:  # safetensors raises its own error types
        raise ConfigError(f"{path}: not a valid safetensors file ({exc})") from exc


def save_checkpoint(
    folder: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    method_state: dict[str, Any],
    state: dict[str, Any],
) -> None:
    """Write ``folder`` atomically: weights, optimiser state, method state, step counters."""
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_tensors(model.state_dict(), tmp / "model.safetensors")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if method_state:
        save_tensors(method_state, tmp / "method.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _first_line(exc: Exception) -> str:
    """The reason PyTorch gives, without its advice on how to load the file unsafely."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        reason = text[text.index(marker) :].splitlines()[0].strip()
        return reason.split(" Please use")[0].split(" Check the documentation")[0].rstrip(". ")
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return first.split(". ")[0].split("weights_only")[0].rstrip(" ,.(`") or type(exc).__name__


def load_checkpoint(folder: Path) -> dict[str, Any] | None:
    """Return the checkpoint's parts, or None when there is none.

    If a crash happened between the two renames of :func:`save_checkpoint`, the previous
    checkpoint is still complete under ``<name>.old`` and is used.
    """
    folder = Path(folder)
    if not (folder / "state.json").is_file():
        old = folder.with_name(folder.name + ".old")
        if (old / "state.json").is_file():
            folder = old
        else:
            return None
    try:
        optimizer_state = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"{folder / 'optimizer.pt'}: refused to load: not a plain tensor checkpoint "
            f"({_first_line(exc)}). mlrsir never unpickles arbitrary objects; if this file "
            "came from an older or foreign mlrsir run, delete the checkpoint folder and train again"
        ) from None
    return {
        "model": load_tensors(folder / "model.safetensors"),
        "optimizer": optimizer_state,
        "method": load_tensors(folder / "method.safetensors") if (folder / "method.safetensors").is_file() else {},
        "state": json.loads((folder / "state.json").read_text()),
    }
