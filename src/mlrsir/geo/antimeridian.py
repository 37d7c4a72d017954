"""Longitudes across the antimeridian (180 degrees E = 180 degrees W), as RFC 7946 asks.

RFC 7946 section 3.1.9: a geometry crossing the antimeridian is cut into parts that each lie
in [-180, 180]; section 5.2: its bounding box then has ``west > east``. mlrsir stores
``lonlat_bounds = [west, south, east, north]`` in that convention (so a tile from 179.5 E to
0.52 degrees past 180 is ``[179.5, s, -179.48, n]``, never ``180.52``) and every test of a point or box
against such bounds (:func:`bounds_contain`, :func:`bounds_intersect`) reads it that way.
Bounds written by older versions with longitudes outside [-180, 180] are normalised on read.
"""

from __future__ import annotations

from collections.abc import Sequence


def wrap_lon(lon: float) -> float:
    """``lon`` (degrees) moved by multiples of 360 into [-180, 180] (values inside are kept)."""
    lon = float(lon)
    if -180.0 <= lon <= 180.0:
        return lon
    return (lon + 180.0) % 360.0 - 180.0


def normalise_lonlat_bounds(bounds: Sequence[float]) -> list[float]:
    """``[west, south, east, north]`` with both longitudes in [-180, 180].

    Input may have ``east > 180`` or ``west < -180`` (an unwrapped box) or already
    ``west > east`` (a crossing box). A box 360 degrees wide or more covers every longitude:
    ``[-180, south, 180, north]``.
    """
    west, south, east, north = (float(v) for v in bounds)
    if west <= east and east - west >= 360.0:
        return [-180.0, south, 180.0, north]
    return [wrap_lon(west), south, wrap_lon(east), north]


def crosses(bounds: Sequence[float]) -> bool:
    """Whether normalised ``bounds`` cross the antimeridian (``west > east``)."""
    return float(bounds[0]) > float(bounds[2])


def _lon_ranges(bounds: Sequence[float]) -> list[tuple[float, float]]:
    west, _, east, _ = normalise_lonlat_bounds(bounds)
    return [(west, 180.0), (-180.0, east)] if west > east else [(west, east)]


def bounds_contain(bounds: Sequence[float], lon: float, lat: float, eps: float = 1e-6) -> bool:
    """Whether the point ``(lon, lat)`` lies in ``bounds`` (crossing boxes included), +- ``eps`` degrees."""
    south, north = float(bounds[1]), float(bounds[3])
    if not south - eps <= float(lat) <= north + eps:
        return False
    lon = wrap_lon(lon)
    return any(lo - eps <= lon <= hi + eps for lo, hi in _lon_ranges(bounds))


def bounds_intersect(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two ``[west, south, east, north]`` boxes overlap (either may cross the antimeridian)."""
    if float(a[3]) < float(b[1]) or float(b[3]) < float(a[1]):
        return False
    return any(not (ahi < blo or bhi < alo) for alo, ahi in _lon_ranges(a) for blo, bhi in _lon_ranges(b))


def _unwrapped(points: Sequence[Sequence[float]]) -> list[list[float]]:
    """Positions with each longitude moved by 360 to lie within 180 degrees of the previous one."""
    out: list[list[float]] = []
    for lon, lat in points:
        lon = float(lon)
        if out:
            while lon - out[-1][0] > 180.0:
                lon -= 360.0
            while out[-1][0] - lon > 180.0:
                lon += 360.0
        out.append([lon, float(lat)])
    return out


def _clip(points: list[list[float]], limit: float, keep_below: bool) -> list[list[float]]:
    """Sutherland-Hodgman clip of an open polygon against the meridian ``lon = limit``."""

    def inside(p):
        return p[0] <= limit if keep_below else p[0] >= limit

    out: list[list[float]] = []
    for i, current in enumerate(points):
        previous = points[i - 1]
        if inside(current) != inside(previous):
            t = (limit - previous[0]) / (current[0] - previous[0])
            out.append([limit, previous[1] + t * (current[1] - previous[1])])
        if inside(current):
            out.append(list(current))
    return out


def split_polygon(points: Sequence[Sequence[float]]) -> list[list[list[float]]]:
    """A lon/lat polygon (open or closed ring of ``[lon, lat]``) as 1 or 2 open rings in [-180, 180].

    The ring is first unwrapped (so an edge never jumps by more than 180 degrees), then cut at
    the meridian it passes (180 or -180) and the far part shifted by 360 degrees.
    """
    ring = _unwrapped(points)
    if len(ring) > 1 and ring[0] == ring[-1]:
        ring = ring[:-1]
    lons = [p[0] for p in ring]
    if max(lons) > 180.0:
        limit = 180.0
    elif min(lons) < -180.0:
        limit = -180.0
    else:
        return [ring]
    near = _clip(ring, limit, keep_below=limit > 0)
    far = _clip(ring, limit, keep_below=limit < 0)
    shift = -360.0 if limit > 0 else 360.0
    parts = [near, [[lon + shift, lat] for lon, lat in far]]
    return [part for part in parts if len(part) >= 3]
