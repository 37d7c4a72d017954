"""Naming a path the user gave that cannot be opened, as the user gave it.

A dangling symbolic link is named by the link (never only by the target the system
resolves it to) and said to be one, with the target it points to.
"""

from __future__ import annotations

import os
from pathlib import Path


def broken_link_target(path: str | Path) -> str | None:
    """What a dangling symbolic link ``path`` points to (as stored in the link), or None
    when ``path`` is not a dangling link."""
    try:
        if os.path.islink(path) and not os.path.exists(path):
            return os.readlink(path)
    except OSError:
        return None
    return None


def not_found_message(path: str | Path, what: str = "file not found") -> str:
    """``PATH: broken symbolic link to TARGET (the target does not exist)`` for a dangling
    link, else ``PATH: WHAT``."""
    target = broken_link_target(path)
    if target is not None:
        return f"{path}: broken symbolic link to {target} (the target does not exist)"
    return f"{path}: {what}"
