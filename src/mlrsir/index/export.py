"""``mlrsir index export``: every item of an index as GeoParquet or npz.

* ``.parquet``: GeoParquet 1.0 (:func:`mlrsir.geo.geoparquet.write_geoparquet`): ``id``,
  ``path``, ``code`` (packed code bytes, :func:`mlrsir.codes.pack_codes` layout),
  ``labels``, ``scene``, ``datetime``, ``geometry`` (footprint polygon in lon/lat, WKB;
  null for items without georeference). Readable by geopandas and DuckDB.
* ``.npz``: ``ids`` int64 (n,), ``paths`` str (n,), ``codes`` uint8 (n, bits) in {0, 1}
  (unpacked), ``labels`` str (n,) (JSON list or ``"null"``), ``geo`` str (n,) (JSON of the
  stored geo or ``"null"``), ``bits`` int. Rows in id order, so two indexes built from
  the same inputs compare bit for bit.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlrsir.codes import unpack_codes
from mlrsir.errors import ConfigError
from mlrsir.geo.geoparquet import write_geoparquet
from mlrsir.index.backends import packed_width
from mlrsir.index.scenes import public_geo


def export_index(index, out: str | Path) -> dict:
    """Write ``index`` to ``out`` (format from the suffix); returns ``{count, georeferenced}``."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".npz"):
        raise ConfigError(f"--out {out}: expected a .parquet (GeoParquet) or .npz file")
    items = list(index.iter_items())
    georef = sum(1 for it in items if (it.get("geo") or {}).get("crs"))
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        width = packed_width(index.bits)
        packed = np.frombuffer(b"".join(it["code"] for it in items), dtype=np.uint8).reshape(len(items), width)
        tmp = out.with_name(out.name + ".tmp.npz")
        np.savez(
            tmp,
            ids=np.array([it["id"] for it in items], dtype=np.int64),
            paths=np.array([it["path"] for it in items], dtype=str),
            codes=unpack_codes(packed, index.bits).astype(np.uint8) if items else np.zeros((0, index.bits), np.uint8),
            labels=np.array([json.dumps(it["labels"]) for it in items], dtype=str),
            geo=np.array([json.dumps(it.get("geo")) for it in items], dtype=str),
            bits=np.int64(index.bits),
        )
        tmp.replace(out)
    else:
        rows = [
            {
                "id": str(it["id"]),
                "path": it["path"],
                "code": it["code"],
                "labels": it["labels"] or [],
                "geo": public_geo(it.get("geo")),
                "scene": (it.get("geo") or {}).get("scene"),
                "datetime": (it.get("geo") or {}).get("datetime"),
            }
            for it in items
        ]
        write_geoparquet(out, rows)
    return {"count": len(items), "georeferenced": georef}
