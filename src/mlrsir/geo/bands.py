"""Band names: from file names, canonical forms, and selection by name or index.

Band names are strings such as ``"B04"``, ``"B8A"`` (Sentinel-2), ``"B4"``, ``"BQA"``
(Landsat) or a raster's band description. Matching is case-insensitive and ignores
zero padding of the band number, so ``"b4"``, ``"B4"`` and ``"B04"`` name the same band
(:func:`canonical`). A selection token made only of digits is a 1-based band index into
the scene's band list (its order is :func:`band_sort_key` for per-band files, the file's
band order for one multi-band raster).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from mlrsir.errors import DataError

#: ``<anything>_B04``, ``<anything>_B8A``, ``l8_B4``, ``LC08..._B10``, ``..._BQA`` (stem end).
_SUFFIX = re.compile(r"(?:^|[_\-.])(B(?:\d{1,2}A?|QA))$", re.IGNORECASE)
_NUMBERED = re.compile(r"^B0*(\d+)(A?)$")


def band_from_filename(path: str | Path) -> str | None:
    """Band name from a file name's suffix (``s2_B8A.tif`` -> ``"B8A"``), or None."""
    match = _SUFFIX.search(Path(path).stem)
    return match.group(1).upper() if match else None


def canonical(name: str) -> str:
    """Comparison key: upper case, band number without zero padding (``b04`` -> ``B4``)."""
    key = str(name).strip().upper()
    match = _NUMBERED.match(key)
    return f"B{int(match.group(1))}{match.group(2)}" if match else key


def band_sort_key(name: str) -> tuple:
    """Natural band order: B1 < B2 < ... < B8 < B8A < B9 < B10 < ... < BQA < others."""
    match = _NUMBERED.match(str(name).upper())
    if match:
        return (0, int(match.group(1)), match.group(2), "")
    return (1, 0, "", str(name).upper())


def parse_selection(spec: str | int | Sequence[str | int] | None) -> list[str | int] | None:
    """``"B04,B03,B02"`` / ``"4,3,2"`` / ``["B04", 3]`` -> tokens (ints = 1-based indices)."""
    if spec is None:
        return None
    items: Iterable = spec.split(",") if isinstance(spec, str) else ([spec] if isinstance(spec, int) else spec)
    tokens: list[str | int] = []
    for item in items:
        if isinstance(item, (int,)) and not isinstance(item, bool):
            tokens.append(int(item))
            continue
        text = str(item).strip()
        if not text:
            continue
        tokens.append(int(text) if text.isdigit() else text)
    if not tokens:
        raise DataError(f"empty band selection {spec!r}")
    return tokens


def select_indices(
    names: Sequence[str],
    spec: str | int | Sequence[str | int] | None,
    where: str,
    aliases: Sequence[Sequence[str]] | None = None,
) -> list[int]:
    """0-based positions in ``names`` of the bands selected by ``spec`` (None: all).

    ``aliases[i]`` are further names of band ``i`` (e.g. STAC common names ``"red"``).
    Raises DataError naming ``where`` (the file or scene) and listing the available
    bands when a token matches no band, or matches several.
    """
    tokens = parse_selection(spec)
    if tokens is None:
        return list(range(len(names)))
    keys = [{canonical(n)} | {canonical(a) for a in (aliases[i] if aliases else ())} for i, n in enumerate(names)]
    out = []
    for token in tokens:
        if isinstance(token, int):
            if not 1 <= token <= len(names):
                raise DataError(
                    f"{where}: band index {token} out of range 1..{len(names)}; available bands: {describe(names)}"
                )
            out.append(token - 1)
            continue
        hits = [i for i, k in enumerate(keys) if canonical(token) in k]
        if len(hits) != 1:
            problem = "no band" if not hits else "several bands match"
            raise DataError(f"{where}: {problem} {token!r}; available bands: {describe(names)}")
        out.append(hits[0])
    return out


def describe(names: Sequence[str]) -> str:
    """``"1=B01, 2=B02, ..."``: how the error messages list available bands."""
    return ", ".join(f"{i}={n}" for i, n in enumerate(names, start=1))
