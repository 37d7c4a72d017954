"""Results as an RFC 7946 GeoJSON FeatureCollection of tile footprint polygons.

Geometry: one Polygon per feature, positions ``[lon, lat]`` (WGS 84 degrees, 7 decimals
~ 1 cm), one closed exterior ring (first position = last) oriented counter-clockwise
(RFC 7946 section 3.1.6). The footprint is the tile's 4 native-CRS corners transformed
with pyproj (:func:`footprint_ring`), or the lon/lat bounding box when only
``lonlat_bounds`` is known. Tiles crossing the antimeridian are not split (DataError).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mlrsir.errors import DataError

DECIMALS = 7


def signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of a closed ring; > 0 for counter-clockwise (lon/lat axes)."""
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring[:-1], ring[1:]))


def _close_ccw(points: list[list[float]]) -> list[list[float]]:
    ring = [[round(float(x), DECIMALS), round(float(y), DECIMALS)] for x, y in points]
    if ring[0] != ring[-1]:
        ring.append(list(ring[0]))
    if signed_area(ring) < 0:
        ring.reverse()
    return ring


def bbox_ring(lonlat_bounds) -> list[list[float]]:
    """Closed CCW ring of a ``[lon_min, lat_min, lon_max, lat_max]`` box."""
    w, s, e, n = (float(v) for v in lonlat_bounds)
    if w > e:
        raise DataError(f"lon/lat bounds {lonlat_bounds} cross the antimeridian (not supported)")
    return _close_ccw([[w, s], [e, s], [e, n], [w, n]])


def footprint_ring(geo: dict) -> list[list[float]]:
    """Closed CCW lon/lat ring of a tile from its ``geo`` dict (see :mod:`mlrsir.geo.georef`).

    Uses the 4 native corners (``bounds`` in ``crs``) when present, else ``lonlat_bounds``.
    """
    if geo.get("bounds") is not None and geo.get("crs"):
        from pyproj import CRS, Transformer

        t = Transformer.from_crs(CRS.from_user_input(geo["crs"]), CRS.from_epsg(4326), always_xy=True)
        x0, y0, x1, y1 = geo["bounds"]
        lons, lats = t.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
        if max(lons) - min(lons) > 180:
            raise DataError(f"tile {geo.get('window')} of {geo.get('scene')} crosses the antimeridian (not supported)")
        return _close_ccw([[lo, la] for lo, la in zip(lons, lats)])
    return bbox_ring(geo["lonlat_bounds"])


def feature(geo: dict, properties: dict | None = None, feature_id=None) -> dict:
    """One GeoJSON Feature: footprint Polygon of ``geo`` + ``properties``."""
    out = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [footprint_ring(geo)]},
        "properties": dict(properties or {}),
    }
    if feature_id is not None:
        out["id"] = feature_id
    return out


def feature_collection(items: Iterable[tuple[dict, dict]]) -> dict:
    """FeatureCollection from ``(geo, properties)`` pairs (``properties["id"]`` becomes the feature id)."""
    return {
        "type": "FeatureCollection",
        "features": [feature(geo, props, (props or {}).get("id")) for geo, props in items],
    }


def write_geojson(path: str | Path, items: Iterable[tuple[dict, dict]]) -> Path:
    """Write :func:`feature_collection` of ``items`` to ``path`` (UTF-8 JSON)."""
    path = Path(path)
    path.write_text(json.dumps(feature_collection(items), ensure_ascii=False), encoding="utf-8")
    return path
