"""Items with footprints as GeoParquet 1.0 (pyarrow), readable by geopandas.

Columns: ``id`` string, ``path`` string, ``code`` binary (packed hash code bytes),
``labels`` list<string>, ``scene`` string (nullable), ``datetime`` string (nullable),
``stac_item``, ``stac_collection``, ``stac_href`` string, ``stac_assets`` map<string, string>
(asset key -> href), ``eo:cloud_cover`` double (percent) - the STAC provenance of a tile of a
STAC Item, null for other items (:func:`mlrsir.geo.geojson.stac_properties`),
``geometry`` binary = footprint Polygon (MultiPolygon across the antimeridian) as
little-endian ISO WKB in lon/lat. File
metadata ``geo`` (GeoParquet 1.0.0): primary column ``geometry``, encoding ``WKB``,
geometry types ``Polygon``, ``MultiPolygon``, CRS OGC:CRS84 (written explicitly as PROJJSON), per-column
bbox. Footprints come from :func:`mlrsir.geo.geojson.footprint_rings`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path

from mlrsir.geo.geojson import footprint_rings, stac_properties

GEOPARQUET_VERSION = "1.0.0"


def polygon_wkb(ring: list[list[float]]) -> bytes:
    """Little-endian WKB of a Polygon with one (closed) exterior ring."""
    out = [struct.pack("<BIII", 1, 3, 1, len(ring))]
    out.extend(struct.pack("<dd", float(x), float(y)) for x, y in ring)
    return b"".join(out)


def footprint_wkb(rings: list[list[list[float]]]) -> bytes:
    """WKB of a footprint: a Polygon for one ring, a MultiPolygon of one-ring Polygons for several."""
    if len(rings) == 1:
        return polygon_wkb(rings[0])
    return struct.pack("<BII", 1, 6, len(rings)) + b"".join(polygon_wkb(ring) for ring in rings)


def crs84_projjson() -> dict:
    from pyproj import CRS

    return CRS.from_user_input("OGC:CRS84").to_json_dict()


def write_geoparquet(path: str | Path, items: Iterable[dict]) -> Path:
    """Write items to ``path``.

    Each item: ``{"id": str, "path": str, "code": bytes, "labels": list[str],
    "geo": geo dict or None}`` (None: null geometry, e.g. an image without georeference);
    optional ``"scene"``/``"datetime"`` default to the geo dict's.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    stac_cols = ("stac_item", "stac_collection", "stac_href", "stac_assets", "eo:cloud_cover")
    cols: dict[str, list] = {
        k: [] for k in ("id", "path", "code", "labels", "scene", "datetime", *stac_cols, "geometry")
    }
    bbox = [180.0, 90.0, -180.0, -90.0]
    any_geometry = False
    types: set[str] = set()
    for item in items:
        geo = item["geo"] or {}
        rings = footprint_rings(geo) if geo else None
        if rings is not None:
            any_geometry = True
            types.add("Polygon" if len(rings) == 1 else "MultiPolygon")
            xs, ys = [p[0] for ring in rings for p in ring], [p[1] for ring in rings for p in ring]
            bbox = [min(bbox[0], *xs), min(bbox[1], *ys), max(bbox[2], *xs), max(bbox[3], *ys)]
        cols["id"].append(str(item["id"]))
        cols["path"].append(str(item.get("path", "")))
        cols["code"].append(bytes(item["code"]))
        cols["labels"].append([str(x) for x in item.get("labels", [])])
        cols["scene"].append(item.get("scene", geo.get("scene")))
        cols["datetime"].append(item.get("datetime", geo.get("datetime")))
        stac = stac_properties(geo)
        for key in stac_cols:
            value = stac.get(key)
            cols[key].append(list(value.items()) if key == "stac_assets" and value is not None else value)
        cols["geometry"].append(None if rings is None else footprint_wkb(rings))
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("path", pa.string()),
            ("code", pa.binary()),
            ("labels", pa.list_(pa.string())),
            ("scene", pa.string()),
            ("datetime", pa.string()),
            ("stac_item", pa.string()),
            ("stac_collection", pa.string()),
            ("stac_href", pa.string()),
            ("stac_assets", pa.map_(pa.string(), pa.string())),
            ("eo:cloud_cover", pa.float64()),
            ("geometry", pa.binary()),
        ]
    )
    geo_meta = {
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": sorted(types) or ["Polygon"],
                "crs": crs84_projjson(),
                "orientation": "counterclockwise",
                **({"bbox": bbox} if any_geometry else {}),
            }
        },
    }
    table = pa.table(cols, schema=schema).replace_schema_metadata({"geo": json.dumps(geo_meta)})
    path = Path(path)
    pq.write_table(table, path)
    return path
