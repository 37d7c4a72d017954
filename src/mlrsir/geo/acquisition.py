"""Acquisition datetime of a scene, when its source tells it; otherwise None.

All results are ISO 8601 strings: ``"2015-08-04T16:19:21.791742Z"`` (UTC, with time)
or ``"2016-01-12"`` (date only, when only the date is known). Sources, by priority
(the caller picks the ones that apply):

* STAC Item: ``datetime`` (or ``start_datetime``) -> :func:`from_stac_item`.
* BigEarthNet ``acquisition_date`` (``"2017-06-13 10:10:31"``, UTC) -> :func:`from_bigearthnet`.
* Landsat ``*_MTL.txt``: ``DATE_ACQUIRED`` + ``SCENE_CENTER_TIME`` -> :func:`from_landsat_mtl`.
* A name holding ``YYYYMMDD`` (optionally ``THHMMSS``), e.g. the Sentinel-2 folder
  ``sentinel2-l1c-T18SVG-20160112`` or ``S2A_MSIL1C_20170613T101031_...`` ->
  :func:`from_name` (the digits must not be part of a longer number and must form a
  valid calendar date).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

_NAME_DATE = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2}))?(?!\d)")
_MTL_LINE = re.compile(r'^\s*([A-Z_0-9]+)\s*=\s*"?([^"]*)"?\s*$')


def _iso(dt: datetime) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat() + "Z"


def from_name(*names: str) -> str | None:
    """First valid ``YYYYMMDD[THHMMSS]`` in ``names``: ``"2016-01-12"`` or ``"...T10:10:31Z"``."""
    for name in names:
        for m in _NAME_DATE.finditer(str(name)):
            y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if not 1970 <= y <= 2100:
                continue
            try:
                if m.group(4):
                    return _iso(datetime(y, mo, d, int(m.group(4)), int(m.group(5)), int(m.group(6))))
                return datetime(y, mo, d).date().isoformat()
            except ValueError:
                continue
    return None


def from_landsat_mtl(path: str | Path) -> str | None:
    """``DATE_ACQUIRED`` + ``SCENE_CENTER_TIME`` of a Landsat MTL text file (UTC)."""
    values = {}
    for line in Path(path).read_text(errors="replace").splitlines():
        m = _MTL_LINE.match(line)
        if m:
            values.setdefault(m.group(1), m.group(2).strip())
    date = values.get("DATE_ACQUIRED") or values.get("ACQUISITION_DATE")
    if not date:
        return None
    time = values.get("SCENE_CENTER_TIME") or values.get("SCENE_CENTER_SCAN_TIME")
    if not time:
        return date
    time = time.rstrip("Z")
    hms, _, frac = time.partition(".")
    try:
        dt = datetime.fromisoformat(f"{date}T{hms}")
    except ValueError:
        return date
    micro = int((frac + "000000")[:6]) if frac.isdigit() else 0
    return _iso(dt.replace(microsecond=micro))


def find_mtl(*folders: Path) -> Path | None:
    """The first ``*_MTL.txt`` in ``folders`` (case-insensitive), or None."""
    for folder in folders:
        if folder and folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.is_file() and p.name.upper().endswith("_MTL.TXT"):
                    return p
    return None


def from_bigearthnet(value: str | None) -> str | None:
    """``"2017-06-13 10:10:31"`` -> ``"2017-06-13T10:10:31Z"`` (None stays None)."""
    if not value:
        return None
    try:
        return _iso(datetime.fromisoformat(str(value).strip().replace(" ", "T")))
    except ValueError:
        return None


def from_stac_item(item) -> str | None:
    """A pystac Item's ``datetime``, else its ``start_datetime`` property."""
    dt = item.datetime
    if dt is None:
        start = item.properties.get("start_datetime")
        if not start:
            return None
        dt = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
    return _iso(dt)
