"""Cloud fraction of a raster window from its quality band (Landsat 8 BQA / QA_PIXEL, Sentinel-2 SCL).

Bit layouts (bit 0 = least significant; a 2-bit confidence is 0 not determined, 1 low
(0-35 %), 2 medium (36-64 %), 3 high (65-100 %)):

* ``"l8-pre"``: Landsat 8 *pre-collection* BQA (products named ``...LGN00`` processed
  before Collection 1, e.g. LPGS 2.5): bit 0 designated fill, 1 dropped frame, 2 terrain
  occlusion, 4-5 water confidence, 8-9 vegetation, 10-11 snow/ice, **12-13 cirrus
  confidence, 14-15 cloud confidence**.
* ``"l8-c1"``: Collection 1 BQA: bit 0 designated fill, 1 terrain occlusion, 2-3
  radiometric saturation, **4 cloud**, 5-6 cloud confidence, 7-8 cloud shadow confidence,
  9-10 snow/ice confidence, **11-12 cirrus confidence**.
* ``"l8-c2"``: Collection 2 ``QA_PIXEL``: bit 0 fill, 1 dilated cloud, **2 cirrus, 3 cloud**,
  4 cloud shadow, 5 snow, 6 clear, 7 water, 8-9 cloud confidence, 10-11 cloud shadow,
  12-13 snow/ice, 14-15 cirrus confidence.
* ``"s2-scl"``: Sentinel-2 L2A scene classification: 0 no data, 8 cloud medium probability,
  9 cloud high probability (cloudy), 10 thin cirrus (cloudy with ``cirrus=True``); the rest
  clear.

A pixel is cloudy when (pre-collection) its cloud confidence is at least
``min_confidence`` (default 3 = high), (C1) bit 4 is set, (C2) bit 3 is set; with
``cirrus=True`` also a high cirrus confidence (pre, C1) / bit 2 (C2). The fraction is over
the pixels that are not fill / no data; None when the window holds none.

:func:`detect_layout` picks the layout from the band name and the scene's MTL metadata
(``QA_PIXEL`` -> C2, ``SCL`` -> S2, a BQA whose MTL has no ``COLLECTION_NUMBER`` ->
pre-collection, else C1).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mlrsir.errors import ConfigError

LAYOUTS = ("l8-pre", "l8-c1", "l8-c2", "s2-scl")


def _bits(qa: np.ndarray, first: int, count: int) -> np.ndarray:
    return (qa >> first) & ((1 << count) - 1)


def cloud_mask(qa, layout: str, *, min_confidence: int = 3, cirrus: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(cloudy, valid)`` boolean arrays of a QA array (module doc)."""
    qa = np.asarray(qa).astype(np.uint32)
    if layout == "l8-pre":
        valid = _bits(qa, 0, 1) == 0
        cloudy = _bits(qa, 14, 2) >= int(min_confidence)
        if cirrus:
            cloudy |= _bits(qa, 12, 2) == 3
    elif layout == "l8-c1":
        valid = _bits(qa, 0, 1) == 0
        cloudy = _bits(qa, 4, 1) == 1
        if cirrus:
            cloudy |= _bits(qa, 11, 2) == 3
    elif layout == "l8-c2":
        valid = _bits(qa, 0, 1) == 0
        cloudy = _bits(qa, 3, 1) == 1
        if cirrus:
            cloudy |= _bits(qa, 2, 1) == 1
    elif layout == "s2-scl":
        valid = qa != 0
        cloudy = np.isin(qa, (8, 9, 10) if cirrus else (8, 9))
    else:
        raise ConfigError(f"QA layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    return cloudy & valid, valid


def cloud_fraction(qa, layout: str, **options) -> float | None:
    """Cloudy share of the valid pixels of ``qa`` (None when no pixel is valid)."""
    cloudy, valid = cloud_mask(qa, layout, **options)
    n = int(valid.sum())
    return None if n == 0 else float(cloudy.sum()) / n


def detect_layout(band_path, mtl_path=None) -> str:
    """The QA layout of a quality band file (module doc)."""
    name = Path(band_path).name.upper()
    if "SCL" in name:
        return "s2-scl"
    if "QA_PIXEL" in name:
        return "l8-c2"
    if "BQA" in name:
        if mtl_path is None:
            found = sorted(Path(band_path).parent.glob("*MTL*.txt")) + sorted(
                Path(band_path).parent.parent.glob("*MTL*.txt")
            )
            mtl_path = found[0] if found else None
        if mtl_path is not None:
            text = Path(mtl_path).read_text(errors="replace")
            match = re.search(r"COLLECTION_NUMBER\s*=\s*(\d+)", text)
            if match is None:
                return "l8-pre"
            return "l8-c2" if int(match.group(1)) >= 2 else "l8-c1"
        return "l8-c1"
    raise ConfigError(f"{band_path}: not a known quality band (BQA, QA_PIXEL or SCL)")


def window_cloud_fraction(band_path, window, layout: str | None = None, **options) -> float | None:
    """Cloud fraction of ``window = (col, row, width, height)`` (pixels of the QA band's grid)
    of a quality band file (needs rasterio)."""
    import rasterio  # noqa: PLC0415 (rasterio only on this path)
    from rasterio.windows import Window  # noqa: PLC0415 (rasterio only on this path)

    layout = layout or detect_layout(band_path)
    col, row, width, height = (int(v) for v in window)
    fill = 0 if layout == "s2-scl" else 1  # outside the raster: no data / designated fill
    with rasterio.open(band_path) as src:
        qa = src.read(1, window=Window(col, row, width, height), boundless=True, fill_value=fill)
    return cloud_fraction(qa, layout, **options)
