"""Search by image or by indexed item: the one query path of ``mlrsir search`` and the web API.

A query is a code: the encoder's code of an image (:func:`encode_query`) or the stored
code of an indexed item (:func:`stored_code`). :func:`search_code` ranks the index by
Hamming distance to it (ties by id; ``radius`` and the label filter are applied by the
index) and returns one row per hit::

    {"rank", "id", "distance", "path", "width", "height", "labels", "geo"}

``geo`` is null for plain images and for tiles of rasters without georeference; for a
tile of a georeferenced scene it is ``{"scene", "window": [col, row, width, height],
"crs": "EPSG:32618", "bounds": [xmin, ymin, xmax, ymax] (native CRS), "lonlat_bounds":
[lon_min, lat_min, lon_max, lat_max], "datetime": str | None}`` (:func:`public_geo`), plus
``"stac": {"item", "collection", "href", "assets", "datetime", "cloud_cover"}`` for a tile of a
STAC Item (:func:`mlrsir.geo.scene.stac_provenance`).

Places: :func:`item_at` finds the indexed tile containing a lon/lat point (the query of
``mlrsir search --at`` and ``POST /api/search {"at": [lon, lat]}``); ``bbox`` (lon/lat)
keeps only results whose footprint intersects it. :func:`load_query_image` reads a query
given as a path: an image file, a raster scene (decimated whole) or a tile id
``SCENE#col,row,w,h``; rasters and tiles go through the index's stored radiometry.

Query-side re-ranking (query by image): the index stores only binary codes, but the
encoder's real-valued output ``h`` of the query (tanh, in (-1, 1)) is known. Given
``query_output=h``, the Hamming candidates are re-ranked by ``(distance, asymmetric score
-<h, 2b-1>, same-file, id)`` (:mod:`mlrsir.metrics.asymmetric`): the Hamming order is
kept and ties inside it are broken by how well each stored code agrees with ``h``, all
items tied with the k-th being considered. Items with *identical* codes have equal
scores; among them an item whose stored path is the query's own file (``query_path``)
comes first, so an archive image searched by itself is its own first result.

``path`` is the path stored in the index; callers format the rows (the CLI prints them,
the web API turns paths into display names and URLs). Items removed by another process
between the search and the record lookup are left out. The functions take an opened
index and an encoder (any objects with their interfaces) and hold no state, so the web
app can run them on its index thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.data.images import read_rgb
from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.antimeridian import bounds_contain, bounds_intersect
from mlrsir.geo.archive import classify_input, is_scene_folder, parse_tile_id, read_overview, read_tile
from mlrsir.geo.radiometry import Radiometry
from mlrsir.metrics.asymmetric import asymmetric_scores

ROW_KEYS = ("rank", "id", "distance", "path", "width", "height", "labels", "geo")
"""Keys of a result row, in order."""

GEO_KEYS = ("scene", "window", "crs", "bounds", "lonlat_bounds", "datetime")
"""Keys of a row's ``geo`` (the same as :data:`mlrsir.geo.georef.GEO_KEYS`)."""


def public_geo(geo: dict | None) -> dict | None:
    """The search contract's ``geo`` from a stored one (None without georeference)."""
    if not geo or not geo.get("crs"):
        return None
    out = {k: geo.get(k) for k in GEO_KEYS}
    if geo.get("stac"):  # a STAC Item's tile: its provenance (mlrsir.geo.scene.stac_provenance)
        out["stac"] = geo["stac"]
    return out


def check_bbox(bbox) -> list[float]:
    """``[west, south, east, north]`` as floats (``west > east``: a box across the antimeridian,
    RFC 7946 section 5.2); ConfigError when malformed."""
    try:
        values = [float(v) for v in bbox]
    except (TypeError, ValueError):
        raise ConfigError(f"bbox {bbox!r}: expected 4 numbers LON_MIN,LAT_MIN,LON_MAX,LAT_MAX") from None
    if len(values) != 4 or values[1] > values[3]:
        raise ConfigError(
            f"bbox {bbox!r}: expected WEST,SOUTH,EAST,NORTH with SOUTH <= NORTH "
            "(WEST > EAST is a box across the antimeridian)"
        )
    if not (
        -180 <= values[0] <= 180 and -180 <= values[2] <= 180 and -90 <= values[1] <= 90 and -90 <= values[3] <= 90
    ):
        raise ConfigError(f"bbox {bbox!r}: longitudes must lie in -180..180 and latitudes in -90..90")
    return values


def check_lonlat(at) -> tuple[float, float]:
    """``(lon, lat)`` floats; ConfigError when malformed or out of range."""
    try:
        lon, lat = (float(v) for v in at)
    except (TypeError, ValueError):
        raise ConfigError(f"at {at!r}: expected LON,LAT (two numbers, longitude first)") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ConfigError(f"at {at!r}: longitude must lie in -180..180 and latitude in -90..90 (LON,LAT order)")
    return lon, lat


def item_at(index, lon: float, lat: float) -> int:
    """Id of the indexed tile whose footprint contains ``(lon, lat)``; several: the one whose
    centre is nearest (native CRS units, ties by id).

    Raises:
        ConfigError: no indexed tile contains the point.
    """
    lon, lat = check_lonlat((lon, lat))
    best: tuple[float, int] | None = None
    transformers: dict[str, Any] = {}
    for item_id, geo in index.geo_items():
        if not geo.get("crs") or not geo.get("bounds"):
            continue
        if not bounds_contain(geo["lonlat_bounds"], lon, lat):
            continue
        crs = geo["crs"]
        if crs not in transformers:
            from pyproj import Transformer

            transformers[crs] = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x0, y0, x1, y1 = geo["bounds"]
        # a geographic raster may run past 180 degrees: the point is tried at lon - 360, lon, lon + 360
        inside = [
            (x, y)
            for x, y in (transformers[crs].transform(lon + turn, lat) for turn in (0.0, 360.0, -360.0))
            if x0 <= x <= x1 and y0 <= y <= y1
        ]
        if not inside:
            continue
        x, y = inside[0]
        d = ((x - (x0 + x1) / 2) ** 2 + (y - (y0 + y1) / 2) ** 2) ** 0.5
        if best is None or (d, item_id) < best:
            best = (d, item_id)
    if best is None:
        raise ConfigError(f"no indexed tile contains lon={lon}, lat={lat} (check the LON,LAT order)")
    return best[1]


def ids_in_bbox(index, bbox) -> set[int]:
    """Ids of the georeferenced items whose lon/lat footprint intersects ``bbox``."""
    box = check_bbox(bbox)
    return {
        item_id
        for item_id, geo in index.geo_items()
        if geo.get("lonlat_bounds") and bounds_intersect(geo["lonlat_bounds"], box)
    }


def load_query_image(index, query: str):
    """RGB PIL image of a query path: image file, raster scene or tile id (module doc); a
    folder that is not a scene (no band files) is refused as a folder."""

    text = str(query)
    if Path(text).exists() and Path(text).is_file() and Path(text).suffix.lower() in (".jpg", ".jpeg", ".png"):
        return read_rgb(text)

    if Path(text).is_dir() and not is_scene_folder(Path(text)):
        raise DataError(
            f"{text}: is a folder: give an image file, a raster (or a folder of band files), or FILE#col,row,w,h"
        )
    tile = parse_tile_id(text)
    is_scene = tile is None and Path(text).exists() and (Path(text).is_dir() or classify_input(Path(text)) == "scene")
    if tile is None and not is_scene:
        return read_rgb(text)
    if index.radiometry is None:
        raise DataError(f"{text}: a raster query needs the index's radiometry, but {index.path} holds no raster scene")
    bands = None
    if tile is not None:
        found = index.ids_for_paths([text])
        bands = index.get(found[text]).get("geo", {}).get("bands") if found else None
    return read_raster_image(text, index.radiometry, bands)


def read_raster_image(text: str, radiometry: dict, bands=None):
    """RGB PIL image of a tile id ``SCENE#col,row,w,h`` (its window, ``bands`` as stored with
    the tile) or of a raster scene (decimated whole, longest side <= 1024 px, default bands),
    mapped to uint8 by the index's stored ``radiometry`` (:meth:`Radiometry.to_dict` form).
    The one raster read of a query: ``mlrsir search --query``, the web's item images and
    GeoTIFF uploads all come here."""

    rule = Radiometry.from_dict(radiometry)
    tile = parse_tile_id(text)
    if tile is not None:
        scene_path, window = tile
        return read_tile(scene_path, window, bands, rule)
    return read_overview(text, None, rule, max_side=1024)[0]


def encode_query(encoder, image) -> np.ndarray:
    """``(1, bits)`` uint8 code of one RGB PIL image."""
    return encode_query_with_output(encoder, image)[0]


def encode_query_with_output(encoder, image) -> tuple[np.ndarray, np.ndarray | None]:
    """``(code (1, bits) uint8, h (bits,) float32 or None)`` of one RGB PIL image; ``h`` is
    the real-valued output behind the code (None when it is not one value per bit)."""
    return query_code_and_output(*encoder.encode_images([image]))


def query_code_and_output(codes, outputs) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`encode_query_with_output`'s result from one image's ``encode_images`` answer."""
    code = np.asarray(codes, dtype=np.uint8).reshape(1, -1)
    h = None if outputs is None else np.asarray(outputs, dtype=np.float32).reshape(-1)
    return code, (h if h is not None and h.shape[0] == code.shape[1] else None)


def self_ids_for_path(index, query_path) -> set[int]:
    """Ids of indexed items stored under the query's path (as given or resolved)."""
    if query_path is None or not hasattr(index, "ids_for_paths"):
        return set()

    text = str(query_path)
    candidates = {text}
    try:
        candidates.add(str(Path(text).resolve()))
    except OSError:
        pass
    return {int(i) for i in index.ids_for_paths(sorted(candidates)).values()}


def _rerank(index, code, hits, query_output, self_ids: set[int], k: int) -> list[tuple[int, int]]:
    """The first ``k`` of ``hits`` (all candidates up to the k-th's distance) ordered by
    ``(distance, -<h, 2b-1>, not same file, id)``."""
    if len(hits) > k:
        last = hits[k - 1][1]
        hits = [(i, d) for i, d in hits if d <= last]
    if not hits:
        return hits
    ids = [i for i, _ in hits]
    if query_output is not None:
        scores = asymmetric_scores(np.asarray(query_output)[None, :], index.codes(ids=ids))[0]
    else:
        scores = np.zeros(len(ids))
    order = sorted(range(len(hits)), key=lambda j: (hits[j][1], scores[j], hits[j][0] not in self_ids, hits[j][0]))
    return [hits[j] for j in order][:k]


def stored_code(index, item_id: int) -> np.ndarray:
    """``(1, bits)`` uint8 stored code of an indexed item (KeyError when there is none)."""
    return np.asarray(index.codes(ids=[int(item_id)]), dtype=np.uint8).reshape(1, -1)


def search_code(
    index,
    code: np.ndarray,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    exclude_id: int | None = None,
    backend: str = "auto",
    bbox: Sequence[float] | None = None,
    query_output: np.ndarray | None = None,
    query_path: str | None = None,
    allowed: set[int] | None = None,
) -> list[dict[str, Any]]:
    """The ``k`` items nearest to ``code`` as result rows (see the module doc).

    Args:
        index: an opened ``CodeIndex`` (or an object with ``bits``, ``search``, ``get``).
        code: one code, ``(bits,)`` or ``(1, bits)``, values in {0, 1}.
        k: number of results.
        radius: keep only items within this Hamming distance.
        label_filter: keep only items carrying all these labels (empty: no filter).
        exclude_id: leave this item out (the query item itself); ``k`` rows are still
            returned when the index has them.
        backend: search back-end of ``CodeIndex.search``.
        bbox: ``[lon_min, lat_min, lon_max, lat_max]``: keep only georeferenced items whose
            footprint intersects it.
        query_output: the query's real-valued output ``h (bits,)``: ties of Hamming
            distance are broken by the asymmetric score (module doc).
        query_path: the query's file: an indexed item stored under it comes first among
            items with the same distance and score.
        allowed: keep only these ids (e.g. a time / cloud filter; with ``bbox``: the ids
            passing both).

    Raises:
        ConfigError: the code length differs from the index's.
    """
    code = np.asarray(code, dtype=np.uint8).reshape(1, -1)
    if code.shape[1] != int(index.bits):
        raise ConfigError(f"encoder produced {code.shape[1]}-bit codes but the index stores {index.bits}-bit codes")
    fetch: int | None = int(k) + (1 if exclude_id is not None else 0)
    if bbox is not None:
        in_box = ids_in_bbox(index, bbox)
        allowed = in_box if allowed is None else in_box & {int(i) for i in allowed}
    if allowed is not None:
        fetch = None  # rank everything, then keep the items in the box
    labels = list(label_filter or []) or None
    hits = index.search(code, k=fetch, radius=radius, backend=backend, label_filter=labels)[0]
    self_ids = self_ids_for_path(index, query_path)
    rerank = query_output is not None or bool(self_ids)
    if rerank and fetch is not None and len(hits) >= fetch and hits:
        # every item tied with the last candidate, so ties are broken over all of them
        last = int(hits[-1][1]) if radius is None else min(int(radius), int(hits[-1][1]))
        hits = index.search(code, k=None, radius=last, backend=backend, label_filter=labels)[0]
    hits = [
        (int(i), int(d))
        for i, d in hits
        if (exclude_id is None or int(i) != int(exclude_id)) and (allowed is None or int(i) in allowed)
    ]
    hits = _rerank(index, code, hits, query_output, self_ids, int(k)) if rerank else hits[: int(k)]
    return result_rows(index, hits)


def result_rows(index, hits: list[tuple[int, Any]], key: str = "distance") -> list[dict[str, Any]]:
    """The result rows (rank, id, ``key`` value, path, size, labels, geo) of ranked ``hits``
    ``[(id, value), ...]``; items removed since the ranking are left out."""
    rows: list[dict[str, Any]] = []
    records = _records(index, [item_id for item_id, _ in hits])
    for item_id, value in hits:
        record = records.get(item_id)
        if record is None:  # removed by another process after the search's snapshot
            continue
        rows.append(
            {
                "rank": len(rows) + 1,
                "id": item_id,
                key: value,
                "path": record["path"],
                "width": record.get("width"),
                "height": record.get("height"),
                "labels": record.get("labels"),
                "geo": public_geo(record.get("geo")),
            }
        )
    return rows


def _records(index, ids: list[int]) -> dict[int, dict]:
    """Records of ``ids`` in one query (``index.get_many``) when the index has it, else one by one."""
    get_many = getattr(index, "get_many", None)
    if get_many is not None:
        return get_many(ids)
    out = {}
    for item_id in ids:
        try:
            out[item_id] = index.get(item_id)
        except KeyError:
            continue
    return out


def search_by_image(
    index,
    encoder,
    image,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    backend: str = "auto",
    bbox: Sequence[float] | None = None,
    query_path: str | None = None,
) -> list[dict[str, Any]]:
    """Encode ``image`` and :func:`search_code` with its code, re-ranking Hamming ties by
    the image's real-valued output (``query_path``: the image's file, if it has one)."""
    code, h = encode_query_with_output(encoder, image)
    return search_code(
        index,
        code,
        k=k,
        radius=radius,
        label_filter=label_filter,
        backend=backend,
        bbox=bbox,
        query_output=h,
        query_path=query_path,
    )


def search_by_item(
    index,
    item_id: int,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    include_self: bool = False,
    backend: str = "auto",
    bbox: Sequence[float] | None = None,
) -> list[dict[str, Any]]:
    """:func:`search_code` with the stored code of ``item_id`` (left out unless ``include_self``).

    Raises:
        KeyError: no indexed item with this id.
    """
    return search_code(
        index,
        stored_code(index, item_id),
        k=k,
        radius=radius,
        label_filter=label_filter,
        exclude_id=None if include_self else int(item_id),
        backend=backend,
        bbox=bbox,
    )
