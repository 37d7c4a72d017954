"""The indexed satellite scenes of the web app: their ids, sizes, footprints, quick-looks
and map tiles.

A scene id is :func:`mlrsir.geo.archive.scene_key` (``NAME-HASH8``: URL-safe, unique per
scene source), never a path from a request. The list of scenes is read once from the
index's georeferenced items; a scene's grid (size, bounds, display bands) is read from its
files on first use; the quick-look PNG (longest side <= 1024 px, the files' overviews when
present) and the Web Mercator map tiles (:mod:`mlrsir.web.map_tiles`) are rendered with the
index's radiometry and cached in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.archive import parse_tile_id, read_overview, scene_key, selection
from mlrsir.geo.geojson import feature
from mlrsir.geo.radiometry import Radiometry
from mlrsir.geo.scene import open_scene
from mlrsir.index.tile_quality import cloud_fractions
from mlrsir.web import imaging, map_tiles
from mlrsir.web.cache import BytesLRU
from mlrsir.web.item_images import ItemNotFound

QUICKLOOK_SIDE = 1024
"""Longest side of a quick-look in pixels."""


class SceneCatalog:
    """Scenes of one index.

    Args:
        on_index: runs ``fn(index)`` on the index thread and returns its result.
        radiometry: returns the index's stored radiometry (DataError when it holds none).
    """

    def __init__(self, on_index: Callable[[Callable[[Any], Any]], Any], radiometry: Callable[[], Radiometry]):
        self._on_index = on_index
        self._radiometry = radiometry
        self._scenes: dict[str, dict] | None = None
        self._georeferenced: bool | None = None
        self._clouds: dict[int, float | None] | None = None
        self.quicklooks = BytesLRU()
        self.map_tiles = BytesLRU(max_items=8192, max_bytes=128 * 1024 * 1024)

    def scenes(self) -> dict[str, dict]:
        """``{scene id: {"source", "bands", "name", "tiles", "datetime", "crs"}}`` of the indexed
        scene tiles (read once; ``tiles``: indexed tiles of the scene; ``width``/``height``,
        ``bounds`` of the finest selected band and the display ``chosen`` bands are added by
        :meth:`scene_info`)."""
        if self._scenes is None:

            def read(idx) -> list[tuple[str, dict]]:
                items = _geo_items(idx)
                if hasattr(idx, "get_many"):
                    records = idx.get_many([item_id for item_id, _ in items]) if items else {}
                else:
                    records = {item_id: idx.get(item_id) for item_id, _ in items}
                return [(str(records[i]["path"]), geo) for i, geo in items if i in records]

            found: dict[str, dict] = {}
            for path, geo in self._on_index(read):
                parsed = parse_tile_id(path)
                if parsed is None:
                    continue
                sid = scene_key(str(geo.get("scene")), parsed[0])
                if sid not in found:
                    found[sid] = {
                        "source": parsed[0],
                        "bands": geo.get("bands"),
                        "name": str(geo.get("scene")),
                        "tiles": 0,
                        "datetime": geo.get("datetime"),
                        "crs": geo.get("crs"),
                    }
                found[sid]["tiles"] += 1
            self._scenes = found
        return self._scenes

    def has_georeferenced(self) -> bool:
        """Whether any indexed item has a lon/lat footprint, i.e. a place search can find
        something (read once, like :meth:`scenes`)."""
        if self._georeferenced is None:
            self._georeferenced = bool(
                self._on_index(lambda idx: any(geo.get("lonlat_bounds") for _i, geo in _geo_items(idx)))
            )
        return self._georeferenced

    def clouds(self) -> dict[int, float | None]:
        """``{item id: stored cloud fraction or None}`` (:mod:`mlrsir.index.tile_quality`;
        empty when the index stores none; read once, like :meth:`scenes`)."""
        if self._clouds is None:
            self._clouds = self._on_index(lambda idx: cloud_fractions(idx) if hasattr(idx, "catalogue") else {})
        return self._clouds

    def filter_ranges(self) -> dict:
        """What the page's time and cloud controls can choose from: ``{"datetime": [first,
        last] or None, "cloud": [lowest, highest] or None, "cloud_known": tiles with a fraction}``."""
        times = sorted(str(s["datetime"]) for s in self.scenes().values() if s.get("datetime"))
        fractions = [f for f in self.clouds().values() if f is not None]
        return {
            "datetime": [times[0], times[-1]] if times else None,
            "cloud": [min(fractions), max(fractions)] if fractions else None,
            "cloud_known": len(fractions),
        }

    def scene_info(self, scene_id: str) -> dict:
        """Scene source, bands and grid size; ItemNotFound for an unknown scene id (a bare
        scene name, as older pages linked, is accepted while it names one scene only)."""
        scenes = self.scenes()
        info = scenes.get(str(scene_id))
        if info is None:
            named = [v for v in scenes.values() if v["name"] == str(scene_id)]
            info = named[0] if len(named) == 1 else None
        if info is None:
            raise ItemNotFound(f"no indexed scene {scene_id!r}")
        if "width" not in info:
            try:
                scene = open_scene(info["source"])
                chosen = scene.select(selection(scene, info["bands"]))
            except (DataError, ConfigError):
                raise ItemNotFound(f"the files of scene {scene_id!r} cannot be read") from None
            key = (lambda b: b.pixel_area) if chosen[0].georeferenced else (lambda b: -b.width * b.height)
            grid = min(chosen, key=key)
            info.update(width=int(grid.width), height=int(grid.height), bounds=list(grid.bounds), chosen=chosen)
        return info

    def scene_ref(self, geo: dict | None, path: str | None = None) -> dict | None:
        """``{id, name, width, height, quicklook_url}`` of a result's scene (None without geo);
        ``path``: the result's tile id, which names the scene's source."""
        if not geo:
            return None

        parsed = parse_tile_id(path) if path else None
        sid = scene_key(str(geo["scene"]), parsed[0]) if parsed else str(geo["scene"])
        try:
            info = self.scene_info(sid)
        except ItemNotFound:
            return None
        sid = scene_key(info["name"], info["source"])
        return {
            "id": sid,
            "name": info["name"],
            "width": info["width"],
            "height": info["height"],
            "quicklook_url": f"/api/scenes/{sid}/quicklook.png",
        }

    def quicklook(self, scene_id: str) -> bytes:
        """PNG quick-look of an indexed scene, rendered with the index's radiometry; cached."""

        info = self.scene_info(scene_id)

        def render() -> bytes:
            try:
                image, _ = read_overview(info["source"], info["bands"], self._radiometry(), max_side=QUICKLOOK_SIDE)
            except (DataError, ConfigError):
                raise ItemNotFound(f"the files of scene {scene_id!r} cannot be read") from None
            return imaging.png_bytes(image)

        return self.quicklooks.get_or_create(("quicklook", str(scene_id)), render)

    def feature_collection(self) -> dict:
        """The indexed scenes as a GeoJSON FeatureCollection (``GET /api/scenes``): one Feature
        per scene, its id the scene id, its geometry the footprint of the scene's grid in
        lon/lat (:func:`mlrsir.geo.geojson.feature`; null when the files cannot be read), its
        properties ``id, name, datetime, tiles, crs, width, height, quicklook_url, tiles_url``;
        ``filters`` beside the features: :meth:`filter_ranges`."""
        features = []
        for sid in sorted(self.scenes()):
            try:
                info = self.scene_info(sid)
            except ItemNotFound:
                info = self.scenes()[sid]
            props = {
                "id": sid,
                "name": info["name"],
                "datetime": info.get("datetime"),
                "tiles": int(info["tiles"]),
                "crs": info.get("crs"),
                "width": info.get("width"),
                "height": info.get("height"),
                "quicklook_url": f"/api/scenes/{sid}/quicklook.png",
                "tiles_url": f"/api/scenes/{sid}/tiles/{{z}}/{{x}}/{{y}}.png",
            }
            if "chosen" in info:
                grid_crs = info["chosen"][0].crs
                features.append(feature({"bounds": info["bounds"], "crs": grid_crs.to_wkt()}, props, sid))
            else:
                features.append({"type": "Feature", "id": sid, "geometry": None, "properties": props})
        # foreign members (RFC 7946 section 6.1): the ranges of the time and cloud filters
        return {"type": "FeatureCollection", "features": features, "filters": self.filter_ranges()}

    def map_tile(self, scene_id: str, z: int, x: int, y: int) -> bytes:
        """PNG of Web Mercator tile ``z/x/y`` of a scene (:mod:`mlrsir.web.map_tiles`); cached.
        ItemNotFound for an unknown scene, ConfigError for ``z/x/y`` outside the tiling."""
        map_tiles.check_tile(z, x, y)
        info = self.scene_info(scene_id)
        sid = scene_key(info["name"], info["source"])

        def render() -> bytes:
            rule = self._radiometry()
            try:
                return map_tiles.tile_png(info["chosen"], rule, z, x, y)
            except DataError:
                raise ItemNotFound(f"the files of scene {scene_id!r} cannot be read") from None

        return self.map_tiles.get_or_create(("tile", sid, z, x, y), render)


def _geo_items(idx) -> list[tuple[int, dict]]:
    return idx.geo_items() if hasattr(idx, "geo_items") else []
