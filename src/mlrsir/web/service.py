"""The retrieval service behind the web API: one index, one encoder, the searches.

:class:`RetrievalService` wraps one opened :class:`~mlrsir.index.store.CodeIndex` and one
:class:`~mlrsir.inference.encoder.Encoder`; queries go through :mod:`mlrsir.inference.search`
(the same path as ``mlrsir search``). Every call into the index runs on a single dedicated
worker thread (the index keeps an SQLite connection, which belongs to the thread that uses
it), and encoder calls are bounded by a semaphore, so the service can be used from the web
server's thread pool. Its parts, each in its own module:

- :attr:`images` (:mod:`mlrsir.web.item_images`): item images, thumbnails, files;
- :attr:`scenes` (:mod:`mlrsir.web.scenes`): scene ids, sizes, quick-looks;
- :attr:`labels` (:mod:`mlrsir.web.label_vocabulary`): usable labels and their checks;
- :attr:`attention` (:mod:`mlrsir.web.attention`): CBAM attention overlays;
- :mod:`mlrsir.web.results`: the response form of items and results.

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

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.radiometry import Radiometry
from mlrsir.index.tile_quality import allowed_ids
from mlrsir.inference.like_these import search_like_these
from mlrsir.inference.match_map import match_map
from mlrsir.inference.search import (
    ids_in_bbox,
    item_at,
    public_geo,
    query_code_and_output,
    search_code,
    stored_code,
)
from mlrsir.web.attention import AttentionMaps
from mlrsir.web.cache import BytesLRU
from mlrsir.web.item_images import ItemImages, ItemNotFound
from mlrsir.web.label_vocabulary import LabelVocabulary
from mlrsir.web.results import code_text, item_json, mark_relevant, result_rows
from mlrsir.web.scenes import SceneCatalog
from mlrsir.web.schemas import MAX_ITEM_ID, LikeTheseParams, SceneFilters, SearchParams

__all__ = ["ItemNotFound", "RetrievalService"]


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
        self._runner = index_runner or ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlrsir-index")
        # bounded inference concurrency: an ONNX Runtime session, or the OpenVINO model (one infer
        # request per thread), runs calls from several threads at once (2 slots); the PyTorch
        # model one at a time (its CBAM keeps the last gate)
        threaded = getattr(encoder, "runtime", "torch") in ("onnx", "openvino")
        self._encoder_slot = threading.BoundedSemaphore(2 if threaded else 1)
        self.bits = int(self.on_index(lambda idx: idx.bits))
        self.fingerprint = dict(self.on_index(lambda idx: idx.fingerprint) or {})
        classes = self.on_index(lambda idx: idx.classes) or getattr(encoder, "classes", None) or []
        self.labels = LabelVocabulary(self.on_index, [str(c) for c in classes])
        self.images = ItemImages(self.record, self.stored_radiometry, archive_root, thumbnail_cache)
        self.thumbnails = self.images.thumbnails
        self.scenes = SceneCatalog(self.on_index, self.radiometry)
        self.attention = AttentionMaps(encoder, self._encoder_slot)

    # ------------------------------------------------------------------ plumbing
    def on_index(self, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(index)`` on the index thread and return its result."""
        return self._runner.submit(fn, self.index).result()

    _on_index = on_index  # older name, used by tests and benchmarks

    def close(self) -> None:
        """Close the index and stop its worker thread."""
        try:
            self.on_index(lambda idx: idx.close())
        finally:
            self._runner.shutdown(wait=True)

    @property
    def classes(self) -> list[str]:
        """The index's classes (multi-hot order of labels)."""
        return self.labels.classes

    def size(self) -> int:
        return int(self.on_index(len))

    def stored_radiometry(self) -> dict | None:
        """The index's stored radiometry dict (:meth:`Radiometry.to_dict`), None when it holds no raster scene."""
        return self.on_index(lambda idx: getattr(idx, "radiometry", None))

    def radiometry(self) -> Radiometry:
        """The index's radiometry; DataError when it stores none."""
        stored = self.stored_radiometry()
        if stored is None:
            raise DataError("the index stores no radiometry")
        return Radiometry.from_dict(stored)

    def record(self, item_id: int) -> dict:
        """The stored record of ``item_id`` (id, path, width, height, labels, geo)."""
        if not 0 <= int(item_id) <= MAX_ITEM_ID:  # outside SQLite's INTEGER range: never stored
            raise ItemNotFound(f"no indexed item with id {item_id}")
        try:
            return dict(self.on_index(lambda idx: idx.get(int(item_id))))
        except KeyError:
            raise ItemNotFound(f"no indexed item with id {item_id}") from None

    def random_id(self) -> int:
        if self.size() == 0:
            raise ItemNotFound("the index is empty")
        return int(self.on_index(lambda idx: idx.random_id()))

    # ------------------------------------------------------------------ search
    def time_cloud_ids(self, filters: SceneFilters) -> set[int] | None:
        """Ids passing the ``after`` / ``before`` / ``max_cloud`` filters
        (:func:`mlrsir.index.tile_quality.allowed_ids`); None when none is given."""
        if not filters.has_time_or_cloud():
            return None
        if not self.scenes.has_georeferenced():
            raise ConfigError("after/before/max_cloud: this index holds no scene tile, so no time or cloud is stored")
        return self.on_index(
            lambda idx: allowed_ids(idx, after=filters.after, before=filters.before, max_cloud=filters.max_cloud)
        )

    def search_at(self, params: SearchParams) -> dict:
        """Search with the indexed tile containing ``params.at`` (lon, lat); the tile itself included."""
        if params.at is None:
            raise ConfigError("at: expected [lon, lat]")
        if not self.scenes.has_georeferenced():
            raise ConfigError("at: this index holds no georeferenced item, a place search cannot find anything")
        lon, lat = params.at
        item_id = self.on_index(lambda idx: item_at(idx, lon, lat))
        return self.search_item(params.model_copy(update={"item_id": int(item_id), "include_self": True}))

    def search_upload(
        self, image: Image.Image, name: str, params: SearchParams, decode_ms: float = 0.0, upload: str | None = None
    ) -> dict:
        """Encode an uploaded image and search the index with its code; ``upload``: the
        upload's cache key (:func:`mlrsir.web.attention.upload_key`), under which the CBAM
        gate of the same forward pass is kept for its attention map."""
        t0 = time.perf_counter()
        params = params.model_copy(update={"labels": self.labels.check(params.labels)})
        with self._encoder_slot:
            # h: re-ranks Hamming ties
            code, query_output = query_code_and_output(*self.attention.encode_query(image, upload))
        encode_ms = (time.perf_counter() - t0) * 1000
        width, height = image.info.get("original_size", image.size)
        query = {
            "source": "upload",
            "item_id": None,
            "name": Path(name or "upload").name or "upload",
            "width": width,
            "height": height,
            "labels": None,
            "image_url": None,
        }
        timing = {"decode_ms": decode_ms, "encode_ms": encode_ms}
        return self._search(code, query, image, params, None, timing, t0, query_output)

    def search_item(self, params: SearchParams) -> dict:
        """Search with the stored code of an indexed item (the item itself left out by default)."""
        t0 = time.perf_counter()
        params = params.model_copy(update={"labels": self.labels.check(params.labels)})
        record = self.record(params.item_id)
        try:
            code = self.on_index(lambda idx: stored_code(idx, params.item_id))
        except KeyError:  # removed by a concurrent `mlrsir index remove` since the lookup
            raise ItemNotFound(f"no indexed item with id {params.item_id}") from None
        item = item_json(record)
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
                image = self.images.read(params.item_id)
            except ItemNotFound:
                image = None
        if query["width"] is None or query["height"] is None:
            query["width"], query["height"] = image.size if image is not None else (0, 0)
        exclude = None if params.include_self else int(params.item_id)
        return self._search(code, query, image, params, exclude, {}, t0)

    def item_attention_png(self, item_id: int) -> bytes:
        """PNG of the attention map of an indexed item, cached per item (and its stored path)."""
        record = self.record(item_id)  # 404 for an unknown item
        key = ("item", int(item_id), str(record.get("path")))
        return self.attention.cached_png(key, lambda: self.images.read(item_id))

    def upload_attention_png(self, key: str, decode: Callable[[], Image.Image]) -> bytes:
        """PNG of the attention map of an upload (``key``: its SHA-256), cached; ``decode()``
        is called only when it is not, and the gate kept by its search is used when present."""
        return self.attention.cached_png(("upload", key), decode)

    def match(self, hit_id: int, query_id: int, grid: int) -> dict:
        """Where is the match (:func:`mlrsir.inference.match_map.match_map`) of indexed item
        ``hit_id`` for the query item ``query_id`` (its stored code as ±1)."""
        t0 = time.perf_counter()
        self.record(query_id)  # 404 for an unknown query
        image = self.images.read(hit_id)  # 404 for an unknown hit
        try:
            code = self.on_index(lambda idx: stored_code(idx, query_id))[0]
        except KeyError:
            raise ItemNotFound(f"no indexed item with id {query_id}") from None
        with self._encoder_slot:
            result = match_map(self.encoder, image, code, grid)
        return {
            "hit_id": int(hit_id),
            "query_id": int(query_id),
            "grid": int(grid),
            "map": result["map"].tolist(),
            "drops": result["drops"].tolist(),
            "similarity": result["similarity"],
            "forward_passes": result["forward_passes"],
            "ms": (time.perf_counter() - t0) * 1000,
        }

    def like_these(self, params: LikeTheseParams) -> dict:
        """Rank the whole index by the classifier fitted to the marked items
        (:func:`mlrsir.inference.like_these.search_like_these`); rows carry ``score``."""
        t0 = time.perf_counter()
        labels = self.labels.check(params.labels)
        for item_id in [*params.positives, *params.negatives]:
            self.record(item_id)  # 404 for an id that is not indexed
        if set(params.positives) & set(params.negatives):
            raise ConfigError("an item cannot be marked both ✓ and ✗")

        time_cloud = self.time_cloud_ids(params)

        def rank(idx):
            allowed = {int(i) for i in idx.ids_with_labels(labels)} if labels else None
            for subset in (ids_in_bbox(idx, params.bbox) if params.bbox is not None else None, time_cloud):
                if subset is not None:
                    allowed = subset if allowed is None else allowed & subset
            return search_like_these(idx, params.positives, params.negatives, k=params.k, allowed=allowed)

        rows = self.on_index(rank)
        results = result_rows(rows, None, self.scenes.scene_ref, self.scenes.clouds())
        return {
            "params": params.model_dump(),
            "results": results,
            "timing_ms": {"total_ms": (time.perf_counter() - t0) * 1000},
        }

    def _search(
        self,
        code: np.ndarray,
        query: dict,
        image: Image.Image | None,
        params: SearchParams,
        exclude_id: int | None,
        timing: dict,
        started: float,
        query_output: np.ndarray | None = None,
    ) -> dict:
        """The search response (:class:`~mlrsir.web.schemas.SearchResponse`) of a query code."""
        query["code"] = code_text(code)
        t_search = time.perf_counter()
        allowed = self.time_cloud_ids(params)
        rows = self.on_index(
            lambda idx: search_code(
                idx,
                code,
                k=params.k,
                radius=params.radius,
                label_filter=params.labels,
                exclude_id=exclude_id,
                bbox=params.bbox,
                query_output=query_output,
                allowed=allowed,
            )
        )
        timing["search_ms"] = (time.perf_counter() - t_search) * 1000
        query_labels = query.get("labels")
        results = result_rows(rows, query_labels, self.scenes.scene_ref, self.scenes.clouds())
        precision = num_relevant = None
        if self.classes:
            precision, num_relevant = mark_relevant(results, query_labels, self.labels.multi_hot)
        attention_url = attention_error = None
        if params.attention:
            t_att = time.perf_counter()
            attention_url, attention_error = self.attention.inline(image)
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
