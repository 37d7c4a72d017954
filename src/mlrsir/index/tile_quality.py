"""Cloud fraction of indexed scene tiles, in its own table, and the time / cloud filter.

::

    tile_quality(item_id INTEGER PRIMARY KEY, cloud_fraction REAL)  -- NULL: no quality band

After tiles are added (``index build|add``), :func:`update_cloud_fractions` finds each new
tile's scene quality band (a file named ``*BQA*``, ``*QA_PIXEL*`` or ``*SCL*`` in the band
folder, or beside the raster) and stores the cloud fraction of the tile's footprint
(:func:`mlrsir.geo.clouds.window_cloud_fraction`; layouts and bits documented there). The
tile's window is mapped onto the quality band's grid through the tile's native-CRS bounds
when georeferenced, else used as is. A tile of a STAC Item without a quality band gets its
Item's ``eo:cloud_cover`` / 100 (``geo["stac"]["cloud_cover"]``, percent; the scene's
fraction, the same for all its tiles). ``--max-cloud F`` then removes the tiles with a
fraction above F (counted; they were encoded, not kept). The acquisition time is the
``datetime`` of the tile's ``geo`` (stored by the scene ingest).

:func:`allowed_ids` gives the items passing ``after`` / ``before`` (ISO dates or datetimes,
inclusive, compared on the ISO text) and ``max_cloud``: items without a datetime fail a
time filter, items without a cloud fraction fail a cloud filter.
"""

from __future__ import annotations

from pathlib import Path

from mlrsir.geo.archive import parse_tile_id
from mlrsir.geo.clouds import window_cloud_fraction
from mlrsir.index.catalogue import SideTable, register_side_table

SIDE_TABLE = register_side_table(SideTable("tile_quality"))
"""Rows of a removed tile are deleted with it (:mod:`mlrsir.index.catalogue`)."""

_DDL = "CREATE TABLE IF NOT EXISTS tile_quality (item_id INTEGER PRIMARY KEY, cloud_fraction REAL)"
_QA_PATTERNS = ("*BQA*", "*QA_PIXEL*", "*SCL*")


def find_quality_band(scene_path) -> Path | None:
    """The quality band file of a scene (band folder or raster file), or None."""
    scene = Path(scene_path)
    folder = scene if scene.is_dir() else scene.parent
    for pattern in _QA_PATTERNS:
        found = sorted(p for p in folder.glob(pattern) if p.suffix.lower() in (".tif", ".tiff", ".jp2"))
        if found:
            return found[0]
    return None


def _qa_window(qa_path, geo: dict):
    if geo.get("bounds") and geo.get("crs"):
        import rasterio  # noqa: PLC0415 (rasterio only on this path)
        from rasterio.windows import from_bounds  # noqa: PLC0415 (rasterio only on this path)

        with rasterio.open(qa_path) as src:
            w = from_bounds(*geo["bounds"], transform=src.transform)
        return (round(w.col_off), round(w.row_off), max(1, round(w.width)), max(1, round(w.height)))
    return tuple(geo["window"])


def cloud_fractions(index) -> dict[int, float | None]:
    """``{id: cloud fraction or None}`` of the items with a stored entry."""
    catalogue = index.catalogue
    if not catalogue.has_table("tile_quality"):
        return {}
    rows = catalogue.query("SELECT item_id, cloud_fraction FROM tile_quality")
    return {int(i): (None if f is None else float(f)) for i, f in rows}


def update_cloud_fractions(index) -> dict:
    """Store the cloud fraction of every geo item without an entry; ``{"computed", "no_band",
    "from_stac"}`` (``from_stac``: of the ``no_band`` tiles, those given their Item's cloud cover)."""

    done = cloud_fractions(index)
    rows, bands, no_band, from_stac = [], {}, 0, 0
    for item_id, geo in index.geo_items():
        if item_id in done:
            continue
        parsed = parse_tile_id(index.get(item_id)["path"])
        scene = parsed[0] if parsed else geo.get("scene")
        if scene not in bands:
            bands[scene] = find_quality_band(scene) if scene else None
        qa = bands[scene]
        fraction = None if qa is None else window_cloud_fraction(qa, _qa_window(qa, geo))
        no_band += qa is None
        cover = (geo.get("stac") or {}).get("cloud_cover")
        if qa is None and isinstance(cover, (int, float)):
            fraction = min(1.0, max(0.0, float(cover) / 100.0))
            from_stac += 1
        rows.append((item_id, fraction))
    if rows:
        with index.catalogue.transaction() as conn:
            conn.execute(_DDL)
            conn.executemany("INSERT OR REPLACE INTO tile_quality VALUES (?, ?)", rows)
    return {"computed": len(rows) - no_band, "no_band": no_band, "from_stac": from_stac}


def remove_cloudy(index, max_cloud: float) -> int:
    """Remove the tiles whose cloud fraction exceeds ``max_cloud``; returns how many."""
    cloudy = [i for i, f in cloud_fractions(index).items() if f is not None and f > float(max_cloud)]
    return index.remove(cloudy) if cloudy else 0


def allowed_ids(index, *, after=None, before=None, max_cloud=None) -> set[int] | None:
    """Ids passing the time / cloud filter (module doc); None when no filter is given."""
    if after is None and before is None and max_cloud is None:
        return None
    clouds = cloud_fractions(index) if max_cloud is not None else {}
    keep = set()
    for item_id, geo in index.geo_items():
        when = geo.get("datetime")
        if (after is not None or before is not None) and not when:
            continue
        if after is not None and str(when) < str(after):
            continue
        if before is not None and str(when)[: len(str(before))] > str(before):
            continue
        if max_cloud is not None:
            f = clouds.get(item_id)
            if f is None or f > float(max_cloud):
                continue
        keep.add(item_id)
    return keep
