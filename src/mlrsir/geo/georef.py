"""Per-tile georeference: the ``geo`` dict stored with every tile of a real scene.

Form (exactly these keys)::

    {"scene": "sentinel2-l1c-T18SVG-20160112",   # scene id
     "window": [col, row, width, height],          # ints, pixels of the finest band's grid
     "crs": "EPSG:32618",                          # native CRS (EPSG code when it has one)
     "bounds": [xmin, ymin, xmax, ymax],           # native CRS = rasterio.windows.bounds(window, transform)
     "lonlat_bounds": [lon_min, lat_min, lon_max, lat_max],  # degrees, WGS 84, lon/lat order
     "datetime": "2016-01-12" | "2015-08-04T16:19:21.791742Z" | None}

``lonlat_bounds`` come from pyproj (``always_xy=True``): the 4 corners and
:data:`DENSIFY` extra points along each edge are transformed and the min/max taken
(``Transformer.transform_bounds``), so curved edges in lon/lat are covered. Longitudes lie
in [-180, 180]; a tile crossing the antimeridian gets ``lon_min > lon_max`` (RFC 7946
section 5.2, :func:`mlrsir.geo.antimeridian.normalise_lonlat_bounds`), also for a
geographic raster whose columns run past 180 degrees.
A raster without georeference has no ``geo`` (None).
"""

from __future__ import annotations

from functools import lru_cache

import rasterio.windows
from affine import Affine
from rasterio.windows import Window

from mlrsir.geo.antimeridian import normalise_lonlat_bounds
from mlrsir.geo.scene import crs_label

#: Extra points per edge transformed for the lon/lat bounds.
DENSIFY = 8
GEO_KEYS = ("scene", "window", "crs", "bounds", "lonlat_bounds", "datetime")


@lru_cache(maxsize=16)
def _to_lonlat(crs_wkt: str):
    from pyproj import CRS, Transformer

    return Transformer.from_crs(CRS.from_wkt(crs_wkt), CRS.from_epsg(4326), always_xy=True)


def lonlat_bounds(bounds, crs, densify: int = DENSIFY) -> list[float]:
    """``[lon_min, lat_min, lon_max, lat_max]`` (degrees) of native ``bounds`` in ``crs``."""
    transformer = _to_lonlat(crs.to_wkt() if hasattr(crs, "to_wkt") else str(crs))
    out = transformer.transform_bounds(*[float(v) for v in bounds], densify_pts=densify)
    return normalise_lonlat_bounds(out)


def tile_geo(scene_id: str, window: Window, transform: Affine, crs, datetime: str | None) -> dict | None:
    """The ``geo`` dict of a tile (module docstring); None when ``crs`` is None."""
    if crs is None:
        return None
    bounds = [float(v) for v in rasterio.windows.bounds(window, transform)]
    return {
        "scene": str(scene_id),
        "window": [int(window.col_off), int(window.row_off), int(window.width), int(window.height)],
        "crs": crs_label(crs),
        "bounds": bounds,
        "lonlat_bounds": lonlat_bounds(bounds, crs),
        "datetime": datetime,
    }
