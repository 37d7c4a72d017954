"""Retrieval logic behind the web API: queries, results, precision, thumbnails.

:class:`RetrievalService` wraps one opened :class:`~mlrsir.index.store.CodeIndex` and one
:class:`~mlrsir.inference.encoder.Encoder`; queries go through :mod:`mlrsir.inference.search`
(the same path as ``mlrsir search``), this module adds the web's result format. Every call into
the index runs on a single
dedicated worker thread (the index keeps an SQLite connection, which belongs to the
thread that uses it), and encoder calls are serialised by a lock, so the service can be
used from the web server's thread pool.

Items are addressed by their integer id only; file paths come from the index and are
never taken from a request, so a client cannot make the server read another file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlrsir.data.images import read_rgb
from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.search import encode_query_with_output, item_at, public_geo, search_code, stored_code
from mlrsir.metrics.relevance import relevance_matrix
from mlrsir.web import imaging
from mlrsir.web.cache import BytesLRU
from mlrsir.web.schemas import MAX_ITEM_ID, SearchParams


class ItemNotFound(LookupError):
    """No indexed item with this id, or its image file cannot be read."""


def display_name(path: str) -> str:
    """Name shown to clients: ``parent-folder/file-name`` of the stored path (no server path)."""
    p = Path(str(path).replace("\\", "/"))
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


class RetrievalService:
    """Search and item access over one index and one encoder.

    Args:
        index: an opened ``CodeIndex`` (or an object with the same interface).
        encoder: an ``Encoder`` whose codes match the index (same bits / fingerprint).
        archive_root: folder that relative paths stored in the index are relative to.
        index_runner: optional single-thread executor the index must be used from (the
            one it was opened on); a new one is made when omitted.
        thumbnail_cache: cache of thumbnail JPEG bytes.
    """

    def __init__(
        self,
        index,
        encoder,
        *,
        archive_root: Path | None = None,
        index_runner: ThreadPoolExecutor | None = None,
        thumbnail_cache: BytesLRU | None = None,
    ):
        self.index = index
        self.encoder = encoder
        self.archive_root = Path(archive_root) if archive_root is not None else None
        self._runner = index_runner or ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlrsir-index")
        # bounded inference concurrency: an ONNX Runtime session runs calls from several threads
        # at once (2 slots), the PyTorch model one at a time (its CBAM keeps the last gate)
        self._encoder_lock = threading.BoundedSemaphore(2 if getattr(encoder, "runtime", "torch") == "onnx" else 1)
        self.thumbnails = thumbnail_cache or BytesLRU()
        self.bits = int(self._on_index(lambda idx: idx.bits))
        self.fingerprint = dict(self._on_index(lambda idx: idx.fingerprint) or {})
        classes = self._on_index(lambda idx: idx.classes) or getattr(encoder, "classes", None) or []
        self.classes: list[str] = [str(c) for c in classes]
        self._class_pos = {c: i for i, c in enumerate(self.classes)}
        self._label_counts: dict[str, int] | None = None
        self._scenes: dict[str, dict] | None = None
        self.quicklooks = BytesLRU()

    # ------------------------------------------------------------------ plumbing
    def _on_index(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(index)`` on the index thread and return its result."""
        return self._runner.submit(fn, self.index).result()

    def close(self) -> None:
        """Close the index and stop its worker thread."""
        try:
            self._on_index(lambda idx: idx.close())
        finally:
            self._runner.shutdown(wait=True)

    @property
    def has_labels(self) -> bool:
        return bool(self.classes)

    def size(self) -> int:
        return int(self._on_index(len))

    def multi_hot(self, labels: list[str] | None) -> np.ndarray:
        """``(C,)`` uint8 multi-hot vector of ``labels`` over :attr:`classes`."""
        vec = np.zeros(len(self.classes), dtype=np.uint8)
        for label in labels or []:
            pos = self._class_pos.get(label)
            if pos is not None:
                vec[pos] = 1
        return vec

    # ------------------------------------------------------------------ items
    def record(self, item_id: int) -> dict:
        """The stored record of ``item_id`` (id, path, width, height, labels)."""
        if not 0 <= int(item_id) <= MAX_ITEM_ID:  # outside SQLite's INTEGER range: never stored
            raise ItemNotFound(f"no indexed item with id {item_id}")
        try:
            return dict(self._on_index(lambda idx: idx.get(int(item_id))))
        except KeyError:
            raise ItemNotFound(f"no indexed item with id {item_id}") from None

    def item_json(self, record: dict) -> dict:
        item_id = int(record["id"])
        return {
            "id": item_id,
            "path": display_name(record["path"]),
            "width": record.get("width"),
            "height": record.get("height"),
            "labels": list(record["labels"]) if record.get("labels") is not None else None,
            "thumbnail_url": f"/api/items/{item_id}/thumbnail",
            "image_url": f"/api/items/{item_id}/image",
        }

    def resolve_path(self, record: dict) -> Path:
        """Server-side file of a record (relative paths are joined to :attr:`archive_root`)."""
        path = Path(record["path"])
        if not path.is_absolute() and self.archive_root is not None:
            path = self.archive_root / path
        return path

    def read_item_image(self, item_id: int) -> Image.Image:
        record = self.record(item_id)
        try:
            if record.get("geo"):  # a tile of a scene: read its window with the index's radiometry
                return self._read_tile(record)
            return read_rgb(self.resolve_path(record))
        except DataError:
            raise ItemNotFound(f"the image file of item {item_id} cannot be read") from None

    def _radiometry(self):
        from mlrsir.geo.radiometry import Radiometry

        stored = self._on_index(lambda idx: getattr(idx, "radiometry", None))
        if stored is None:
            raise DataError("the index stores no radiometry")
        return Radiometry.from_dict(stored)

    def _read_tile(self, record: dict) -> Image.Image:
        from mlrsir.geo.archive import parse_tile_id, read_tile

        parsed = parse_tile_id(record["path"])
        if parsed is None:
            raise DataError(f"item {record['id']}: not a tile id")
        return read_tile(parsed[0], parsed[1], record["geo"].get("bands"), self._radiometry())

    # ------------------------------------------------------------------ scenes
    def scenes(self) -> dict[str, dict]:
        """``{scene id: {"source", "bands", "width", "height"}}`` of the indexed scene tiles
        (read once; sizes from the scene's finest selected band). Scene ids are
        :func:`mlrsir.geo.archive.scene_key` (URL-safe, unique per source)."""
        if self._scenes is None:
            from mlrsir.geo.archive import parse_tile_id, scene_key

            items = self._on_index(lambda idx: idx.geo_items() if hasattr(idx, "geo_items") else [])
            found: dict[str, dict] = {}
            for _item_id, geo in items:
                parsed = parse_tile_id(_path_of(self, _item_id))
                if parsed is None:
                    continue
                sid = scene_key(str(geo.get("scene")), parsed[0])
                if sid not in found:
                    found[sid] = {"source": parsed[0], "bands": geo.get("bands"), "name": str(geo.get("scene"))}
            self._scenes = found
        return self._scenes

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
            from mlrsir.geo.archive import selection
            from mlrsir.geo.scene import open_scene

            try:
                scene = open_scene(info["source"])
                chosen = scene.select(selection(scene, info["bands"]))
            except (DataError, ConfigError):
                raise ItemNotFound(f"the files of scene {scene_id!r} cannot be read") from None
            key = (lambda b: b.pixel_area) if chosen[0].georeferenced else (lambda b: -b.width * b.height)
            grid = min(chosen, key=key)
            info.update(width=int(grid.width), height=int(grid.height))
        return info

    def scene_ref(self, geo: dict | None, path: str | None = None) -> dict | None:
        """``{id, name, width, height, quicklook_url}`` of a result's scene (None without geo);
        ``path``: the result's tile id, which names the scene's source."""
        if not geo:
            return None
        from mlrsir.geo.archive import parse_tile_id, scene_key

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
        """PNG quick-look of an indexed scene (longest side <= 1024 px; overviews used when the
        files have them), rendered with the index's radiometry; cached in memory."""
        from mlrsir.geo.archive import read_overview

        info = self.scene_info(scene_id)

        def render() -> bytes:
            try:
                image, _ = read_overview(info["source"], info["bands"], self._radiometry(), max_side=1024)
            except (DataError, ConfigError):
                raise ItemNotFound(f"the files of scene {scene_id!r} cannot be read") from None
            return imaging.png_bytes(image)

        return self.quicklooks.get_or_create(("quicklook", str(scene_id)), render)

    def search_at(self, params: SearchParams) -> dict:
        """Search with the indexed tile containing ``params.at`` (lon, lat); the tile itself included."""
        if params.at is None:
            raise ConfigError("at: expected [lon, lat]")
        lon, lat = params.at
        item_id = self._on_index(lambda idx: item_at(idx, lon, lat))
        return self.search_item(params.model_copy(update={"item_id": int(item_id), "include_self": True}))

    def thumbnail(self, item_id: int) -> bytes:
        """JPEG thumbnail bytes (longest side <= 256 px), cached in memory."""
        return self.thumbnails.get_or_create(
            int(item_id), lambda: imaging.thumbnail_bytes(self.read_item_image(item_id))
        )

    def image_file(self, item_id: int) -> tuple[bytes, str]:
        """Full image for the browser: the file itself when browsers can show it, else PNG."""
        record = self.record(item_id)
        path = self.resolve_path(record)
        media_type = imaging.BROWSER_FORMATS.get(path.suffix.lower())
        if media_type is not None:
            try:
                return path.read_bytes(), media_type
            except OSError:
                raise ItemNotFound(f"the image file of item {item_id} cannot be read") from None
        return imaging.png_bytes(self.read_item_image(item_id)), "image/png"

    def random_id(self) -> int:
        if self.size() == 0:
            raise ItemNotFound("the index is empty")
        return int(self._on_index(lambda idx: idx.random_id()))

    def label_counts(self) -> dict[str, int]:
        """Number of indexed images carrying each label (computed once)."""
        if self._label_counts is None:

            def count(idx) -> np.ndarray:
                if hasattr(idx, "label_counts"):  # one SQL pass (CodeIndex), no row per item in Python
                    found = idx.label_counts()
                    return np.array([found.get(c, 0) for c in self.classes], dtype=np.int64)
                totals = np.zeros(len(self.classes), dtype=np.int64)
                for item_id in idx.ids():
                    totals += self.multi_hot(idx.get(int(item_id)).get("labels"))
                return totals

            totals = self._on_index(count) if self.classes else np.zeros(0, dtype=np.int64)
            self._label_counts = {c: int(n) for c, n in zip(self.classes, totals)}
        return self._label_counts

    # ------------------------------------------------------------------ search
    def check_label_filter(self, labels: list[str]) -> list[str]:
        """Vocabulary names of the filter labels (matched like label files: case, ``-``/space
        insensitive); ConfigError naming the unknown ones."""
        from mlrsir.data.labels import normalize_class_name

        by_norm = {normalize_class_name(c): c for c in self.classes}
        known = [label if label in self._class_pos else by_norm.get(normalize_class_name(label)) for label in labels]
        unknown = [label for label, match in zip(labels, known) if not match]
        if unknown:
            if not self.classes:
                raise ConfigError("labels: this archive has no labels, a label filter cannot be used")
            raise ConfigError(
                f"labels: unknown label(s) {', '.join(map(repr, unknown))}; known labels: {', '.join(self.classes)}"
            )
        return list(dict.fromkeys(known))

    def search_upload(self, image: Image.Image, name: str, params: SearchParams, decode_ms: float = 0.0) -> dict:
        """Encode an uploaded image and search the index with its code."""
        t0 = time.perf_counter()
        params = params.model_copy(update={"labels": self.check_label_filter(params.labels)})
        with self._encoder_lock:
            code, query_output = encode_query_with_output(self.encoder, image)  # h: re-ranks Hamming ties
        encode_ms = (time.perf_counter() - t0) * 1000
        query = {
            "source": "upload",
            "item_id": None,
            "name": Path(name or "upload").name or "upload",
            "width": image.info.get("original_size", image.size)[0],
            "height": image.info.get("original_size", image.size)[1],
            "labels": None,
            "image_url": None,
        }
        return self._search(
            code,
            query,
            image,
            params,
            exclude_id=None,
            timing={"decode_ms": decode_ms, "encode_ms": encode_ms},
            started=t0,
            query_output=query_output,
        )

    def search_item(self, params: SearchParams) -> dict:
        """Search with the stored code of an indexed item (the item itself left out by default)."""
        t0 = time.perf_counter()
        params = params.model_copy(update={"labels": self.check_label_filter(params.labels)})
        record = self.record(params.item_id)
        try:
            code = self._on_index(lambda idx: stored_code(idx, params.item_id))
        except KeyError:  # removed by a concurrent `mlrsir index remove` since the lookup
            raise ItemNotFound(f"no indexed item with id {params.item_id}") from None
        item = self.item_json(record)
        query = {
            "source": "item",
            "item_id": item["id"],
            "name": item["path"],
            "width": item["width"],
            "height": item["height"],
            "labels": item["labels"],
            "image_url": item["image_url"],
            "geo": public_geo(record.get("geo")),
        }
        image = None
        if params.attention:
            try:
                image = self.read_item_image(params.item_id)
            except ItemNotFound:
                image = None
        if query["width"] is None or query["height"] is None:
            query["width"], query["height"] = image.size if image is not None else (0, 0)
        exclude = None if params.include_self else int(params.item_id)
        return self._search(code, query, image, params, exclude_id=exclude, timing={}, started=t0)

    def attention_png(self, image: Image.Image) -> bytes:
        """PNG of the CBAM spatial attention map blended over ``image`` (``GET
        /api/items/{id}/attention``, ``POST /api/attention``); ConfigError when the model has none."""
        try:
            with self._encoder_lock:
                att = self.encoder.spatial_attention(image)
        except Exception as exc:  # e.g. a model without CBAM
            raise ConfigError(f"no attention map for this model ({type(exc).__name__}: {exc})") from None
        return imaging.png_bytes(imaging.attention_overlay(image, att))

    def item_attention_png(self, item_id: int) -> bytes:
        """:meth:`attention_png` of an indexed item's image (not cached: a PNG per item would
        crowd the thumbnails out of the memory budget; the browser caches it)."""
        return self.attention_png(self.read_item_image(item_id))

    def _search(
        self,
        code: np.ndarray,
        query: dict,
        image: Image.Image | None,
        params: SearchParams,
        *,
        exclude_id: int | None,
        timing: dict,
        started: float,
        query_output: np.ndarray | None = None,
    ) -> dict:
        query["code"] = "".join("1" if b else "0" for b in code[0])
        t_search = time.perf_counter()
        rows = self._on_index(
            lambda idx: search_code(
                idx,
                code,
                k=params.k,
                radius=params.radius,
                label_filter=params.labels,
                exclude_id=exclude_id,
                bbox=params.bbox,
                query_output=query_output,
            )
        )
        timing["search_ms"] = (time.perf_counter() - t_search) * 1000

        query_labels = query.get("labels")
        query_set = set(query_labels or [])
        results = []
        for row in rows:
            item = self.item_json(row)
            labels = item["labels"]
            results.append(
                {
                    "rank": row["rank"],
                    "id": item["id"],
                    "distance": row["distance"],
                    "path": item["path"],
                    "labels": labels,
                    "shared_labels": [lab for lab in (labels or []) if lab in query_set],
                    "relevant": None,
                    "thumbnail_url": item["thumbnail_url"],
                    "image_url": item["image_url"],
                    "geo": row.get("geo"),
                    "scene": self.scene_ref(row.get("geo"), _path_of(self, item["id"]) if row.get("geo") else None),
                }
            )

        precision = num_relevant = None
        labels_known = self.has_labels and query_labels is not None and all(r["labels"] is not None for r in results)
        if labels_known and results:
            rel = relevance_matrix(
                self.multi_hot(query_labels)[None, :], np.stack([self.multi_hot(r["labels"]) for r in results])
            )[0]
            for r, is_rel in zip(results, rel):
                r["relevant"] = bool(is_rel)
            num_relevant = int(rel.sum())
            precision = num_relevant / len(results)

        attention_url = attention_error = None
        if params.attention:
            t_att = time.perf_counter()
            if image is None:
                attention_error = "the query image could not be read"
            else:
                try:
                    with self._encoder_lock:
                        att = self.encoder.spatial_attention(image)
                    attention_url = imaging.data_url_png(imaging.attention_overlay(image, att))
                except Exception as exc:  # e.g. a model without CBAM; the search result still stands
                    attention_error = f"no attention map for this model ({type(exc).__name__}: {exc})"
            timing["attention_ms"] = (time.perf_counter() - t_att) * 1000
        # uploads: decoding happened before `started`
        timing["total_ms"] = (time.perf_counter() - started) * 1000 + timing.get("decode_ms", 0.0)
        return {
            "query": query,
            "params": params.model_dump(),
            "results": results,
            "precision": precision,
            "num_relevant": num_relevant,
            "timing_ms": timing,
            "attention_url": attention_url,
            "attention_error": attention_error,
        }


def _path_of(service: RetrievalService, item_id: int) -> str:
    return str(service.record(item_id)["path"])
