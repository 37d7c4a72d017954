"""Safe saving and loading of weights and resume state.

Weights are stored with safetensors (no code can run on load). The optimiser state is a
plain ``torch.save`` file loaded with ``weights_only=True``, which refuses anything but
tensors and plain containers, so a crafted pickle cannot execute code.

A checkpoint is a folder written next to its final place and swapped in by renames, so an
interruption leaves either the previous checkpoint or the new one, never a mix. Only the files
mlrsir writes there (:data:`CHECKPOINT_FILES`) are ever removed: a checkpoint folder that holds
anything else is refused, never deleted.
"""

from __future__ import annotations

import json
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


CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "method.safetensors", "state.json")
"""The files :func:`save_checkpoint` writes into a checkpoint folder (nothing else is removed)."""


def _written_by_mlrsir(entry: Path) -> bool:
    """One of :data:`CHECKPOINT_FILES`, or the temporary file an interrupted atomic write of one
    left (``.model.safetensors.XXXX.tmp``, :func:`mlrsir.io_atomic.atomic_path`)."""
    if not entry.is_file() or entry.is_symlink():
        return False
    name = entry.name
    return name in CHECKPOINT_FILES or any(
        name.startswith(f".{own}.") and name.endswith(".tmp") for own in CHECKPOINT_FILES
    )


def check_checkpoint_folder(folder: Path) -> None:
    """Refuse (:class:`~mlrsir.errors.ConfigError`) a ``folder`` that holds anything but the
    :data:`CHECKPOINT_FILES` mlrsir writes: a user's file, a subfolder, a link. Missing is fine."""
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise ConfigError(f"{folder}: not a checkpoint folder written by mlrsir; move it away to train here")
    foreign = sorted(entry.name for entry in folder.iterdir() if not _written_by_mlrsir(entry))
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise ConfigError(
            f"{folder}: holds files mlrsir did not write ({shown}); mlrsir never deletes them: "
            "move them away, or train into another --out"
        )


def remove_checkpoint_folder(folder: Path) -> None:
    """Remove a checkpoint folder mlrsir wrote: its :data:`CHECKPOINT_FILES`, then the empty
    folder. Anything else in it is refused first (:func:`check_checkpoint_folder`), never removed."""
    folder = Path(folder)
    check_checkpoint_folder(folder)
    if not folder.exists():
        return
    for entry in folder.iterdir():
        entry.unlink()  # every entry passed _written_by_mlrsir above
    folder.rmdir()


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
    remove_checkpoint_folder(tmp)
    remove_checkpoint_folder(old)  # before writing anything: a foreign file stops the save early
    if folder.exists():
        check_checkpoint_folder(folder)
    tmp.mkdir(parents=True)
    save_tensors(model.state_dict(), tmp / "model.safetensors")
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if method_state:
        save_tensors(method_state, tmp / "method.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=2))
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    remove_checkpoint_folder(old)


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
