"""Results as an RFC 7946 GeoJSON FeatureCollection of tile footprint polygons.

Geometry: one Polygon per feature, positions ``[lon, lat]`` (WGS 84 degrees, 7 decimals
~ 1 cm, longitudes in [-180, 180]), one closed exterior ring (first position = last)
oriented counter-clockwise (RFC 7946 section 3.1.6). The footprint is the tile's 4
native-CRS corners transformed with pyproj (:func:`footprint_rings`), or the lon/lat
bounding box when only ``lonlat_bounds`` is known. A footprint crossing the antimeridian
is cut there into a MultiPolygon of two parts (RFC 7946 section 3.1.9,
:mod:`mlrsir.geo.antimeridian`). A tile of a STAC Item carries its provenance as properties
(:func:`stac_properties`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mlrsir.geo.antimeridian import normalise_lonlat_bounds, split_polygon

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


def bbox_rings(lonlat_bounds) -> list[list[list[float]]]:
    """Closed CCW rings (1, or 2 across the antimeridian) of a ``[west, south, east, north]`` box."""
    w, s, e, n = normalise_lonlat_bounds(lonlat_bounds)
    if w > e:  # crossing: the part east of ``w`` up to 180 and the part from -180 to ``e``
        return [
            _close_ccw([[w, s], [180.0, s], [180.0, n], [w, n]]),
            _close_ccw([[-180.0, s], [e, s], [e, n], [-180.0, n]]),
        ]
    return [_close_ccw([[w, s], [e, s], [e, n], [w, n]])]


def footprint_rings(geo: dict) -> list[list[list[float]]]:
    """Closed CCW lon/lat rings of a tile from its ``geo`` dict (see :mod:`mlrsir.geo.georef`):
    one ring, or two when the footprint crosses the antimeridian.

    Uses the 4 native corners (``bounds`` in ``crs``) when present, else ``lonlat_bounds``.
    """
    if geo.get("bounds") is not None and geo.get("crs"):
        from pyproj import CRS, Transformer

        t = Transformer.from_crs(CRS.from_user_input(geo["crs"]), CRS.from_epsg(4326), always_xy=True)
        x0, y0, x1, y1 = geo["bounds"]
        lons, lats = t.transform([x0, x1, x1, x0], [y0, y0, y1, y1])
        return [_close_ccw(part) for part in split_polygon([[lo, la] for lo, la in zip(lons, lats)])]
    return bbox_rings(geo["lonlat_bounds"])


def geometry(geo: dict) -> dict:
    """The GeoJSON geometry of a tile's footprint: a Polygon, or a MultiPolygon across the antimeridian."""
    rings = footprint_rings(geo)
    if len(rings) == 1:
        return {"type": "Polygon", "coordinates": [rings[0]]}
    return {"type": "MultiPolygon", "coordinates": [[ring] for ring in rings]}


def stac_properties(geo: dict | None) -> dict:
    """The STAC provenance of a tile (``geo["stac"]``, :func:`mlrsir.geo.scene.stac_provenance`) as
    flat properties: ``stac_item``, ``stac_collection``, ``stac_href``, ``stac_assets`` ({key: href}),
    ``datetime``, ``eo:cloud_cover`` (percent); ``{}`` for other tiles."""
    stac = (geo or {}).get("stac")
    if not stac:
        return {}
    return {
        "stac_item": stac.get("item"),
        "stac_collection": stac.get("collection"),
        "stac_href": stac.get("href"),
        "stac_assets": dict(stac.get("assets") or {}),
        "datetime": stac.get("datetime"),
        "eo:cloud_cover": stac.get("cloud_cover"),
    }


def feature(geo: dict, properties: dict | None = None, feature_id=None) -> dict:
    """One GeoJSON Feature: footprint geometry of ``geo`` + ``properties``."""
    out = {"type": "Feature", "geometry": geometry(geo), "properties": dict(properties or {})}
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
