"""Items with footprints as GeoParquet 1.0 (pyarrow), readable by geopandas.

Columns: ``id`` string, ``path`` string, ``code`` binary (packed hash code bytes),
``labels`` list<string>, ``scene`` string (nullable), ``datetime`` string (nullable),
``geometry`` binary = footprint Polygon as little-endian ISO WKB in lon/lat. File
metadata ``geo`` (GeoParquet 1.0.0): primary column ``geometry``, encoding ``WKB``,
geometry type ``Polygon``, CRS OGC:CRS84 (written explicitly as PROJJSON), per-column
bbox. Footprints come from :func:`mlrsir.geo.geojson.footprint_ring`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path

from mlrsir.geo.geojson import footprint_ring

GEOPARQUET_VERSION = "1.0.0"


def polygon_wkb(ring: list[list[float]]) -> bytes:
    """Little-endian WKB of a Polygon with one (closed) exterior ring."""
    out = [struct.pack("<BIII", 1, 3, 1, len(ring))]
    out.extend(struct.pack("<dd", float(x), float(y)) for x, y in ring)
    return b"".join(out)


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

    cols = {k: [] for k in ("id", "path", "code", "labels", "scene", "datetime", "geometry")}
    bbox = [180.0, 90.0, -180.0, -90.0]
    any_geometry = False
    for item in items:
        geo = item["geo"] or {}
        ring = footprint_ring(geo) if geo else None
        if ring is not None:
            any_geometry = True
            xs, ys = [p[0] for p in ring], [p[1] for p in ring]
            bbox = [min(bbox[0], *xs), min(bbox[1], *ys), max(bbox[2], *xs), max(bbox[3], *ys)]
        cols["id"].append(str(item["id"]))
        cols["path"].append(str(item.get("path", "")))
        cols["code"].append(bytes(item["code"]))
        cols["labels"].append([str(x) for x in item.get("labels", [])])
        cols["scene"].append(item.get("scene", geo.get("scene")))
        cols["datetime"].append(item.get("datetime", geo.get("datetime")))
        cols["geometry"].append(None if ring is None else polygon_wkb(ring))
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("path", pa.string()),
            ("code", pa.binary()),
            ("labels", pa.list_(pa.string())),
            ("scene", pa.string()),
            ("datetime", pa.string()),
            ("geometry", pa.binary()),
        ]
    )
    geo_meta = {
        "version": GEOPARQUET_VERSION,
        "primary_column": "geometry",
        "columns": {
            "geometry": {
                "encoding": "WKB",
                "geometry_types": ["Polygon"],
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
