"""The one check of the tile options (``--tile``, ``--stride``) of ``index build|add`` and
``train --images``, and of :class:`mlrsir.geo.tiling.SceneTiler`.

The message names only what was given: a stride left out (None: step by the tile size)
is never printed.
"""

from __future__ import annotations

from mlrsir.errors import ConfigError

OPTION_NAMES = ("--tile ", "--stride ")
"""How the command line names the two values (name + value, e.g. ``--tile 0``)."""

KEYWORD_NAMES = ("tile=", "stride=")
"""How the Python API names them (e.g. ``tile=0``)."""


def check_tile_stride(tile: int, stride: int | None, names: tuple[str, str] = OPTION_NAMES) -> None:
    """Raise ConfigError naming each of ``tile`` / ``stride`` that is below 1 (a stride of
    None is the default and is fine)."""
    bad = [f"{names[0]}{tile}"] if tile < 1 else []
    if stride is not None and stride < 1:
        bad.append(f"{names[1]}{stride}")
    if bad:
        raise ConfigError(f"{', '.join(bad)}: must be >= 1 (pixels)")
