"""Sources: what can be put into an index (or trained on), named cheaply, loaded on demand.

A source yields *candidates* in bounded batches (``candidate_batches(size)``: lists of
the item paths an index stores, an image file's absolute resolved path or a tile id
``SCENE_PATH#col,row,width,height``) without reading pixels, so the fill loop
(:func:`mlrsir.ingest.fill.fill_index`) skips items already present before any read.
``load(path)`` turns one candidate of the latest batch into a :class:`SourceItem` (None:
empty tile, counted); ``iter_images()`` gives training the same items as arrays.

* :class:`ImageFileSource`: image files (the engine decodes them from ``file``); labels
  matched by file stem.
* :class:`SceneTileSource`: raster scenes (files, band folders, STAC Items) cut into tiles
  by :class:`mlrsir.geo.tiling.SceneTiler` (windows streamed, sparse blocks skipped), each
  mapped through one fixed radiometry to 8-bit RGB; a scene that fails is reported by name
  and skipped (``strict``: raised).

Remote rasters (``https://``, ``s3://`` URLs, :mod:`mlrsir.geo.remote`) are scenes of
:class:`SceneTileSource`, read in place; their tile ids start with the URL. STAC Items found
by a STAC API search or a static catalogue walk (:class:`mlrsir.geo.stac_search.StacScenes`)
are scenes of it too, streamed: their tile ids start with the Item's href.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.data.images import read_rgb
from mlrsir.data.labels import read_label_file
from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.archive import default_radiometry, selection, tile_id, to_rgb, walk_inputs
from mlrsir.geo.raster import open_raster
from mlrsir.geo.read_progress import SceneMeter
from mlrsir.geo.remote import is_remote_url
from mlrsir.geo.scene import crs_label, open_scene
from mlrsir.geo.tile_check import check_tile_stride
from mlrsir.geo.tiling import SceneTiler
from mlrsir.text import printable

INDEX_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


@dataclass
class SourceItem:
    """One item to encode.

    Attributes:
        path: the path stored in the index (unique key).
        record: the index record without codes: ``width``, ``height`` (0 until decoded for
            files), ``labels`` (list[str] or None), optional ``geo``.
        file: the file an engine decodes (image files), or None.
        image: the RGB PIL image to encode (scene tiles), or None.
    """

    path: str
    record: dict
    file: Path | None = None
    image: Any = None


@dataclass
class SourceCounts:
    """What a source saw besides the items it loaded (scene counters, failures)."""

    failed: list[tuple[str, str]] = field(default_factory=list)
    scenes: int = 0
    skipped_empty: int = 0
    radiometry: dict | None = None
    complete_scenes: int = 0
    complete_tiles: int = 0


def log_skip(log: Callable[[str], None], path: str, message: str) -> None:
    """``skipped MESSAGE`` when the message names the path already, else ``skipped PATH: MESSAGE``
    (control characters of names escaped: :func:`mlrsir.text.printable`)."""
    line = f"skipped {message}" if str(message).startswith(str(path)) else f"skipped {path}: {message}"
    log(printable(line))


# ---------------------------------------------------------------------------- image files
def list_images(root: str | Path) -> list[Path]:
    """Image files under ``root`` (recursive; suffixes in :data:`INDEX_IMAGE_SUFFIXES`,
    any case), absolute and resolved, sorted by their path relative to ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder not found")
    found = [p for p in root.rglob("*") if p.suffix.lower() in INDEX_IMAGE_SUFFIXES and p.is_file()]
    found.sort(key=lambda p: p.relative_to(root).as_posix())
    return [p.resolve() for p in found]


def expand_inputs(inputs: list[str | Path]) -> list[Path]:
    """Folders -> :func:`list_images`; files kept (resolved); order kept, duplicates dropped.
    A remote URL is refused (DataError): remote rasters are scenes (:func:`input_sources`)."""
    out: list[Path] = []
    seen: set[Path] = set()
    for entry in inputs:
        if is_remote_url(entry):
            raise DataError(f"{entry}: a remote URL is a raster scene (tiled by `index build|add --images`)")
        item = Path(entry)
        if item.is_dir():
            paths = list_images(item)
        elif item.is_file():
            paths = [item.resolve()]
        else:
            raise DataError(f"{item}: no such image file or folder")
        for p in paths:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def read_labels(label_file: str | Path) -> tuple[list[str], dict[str, list[str]]]:
    """``(classes, {image name without extension: [labels]})`` from a label file
    (any format :func:`mlrsir.data.labels.read_label_file` reads; a UCM ``.mat`` by the
    implied release names, see :func:`mlrsir.data.labels.ucm_release_names`)."""

    table = read_label_file(label_file)
    by_name = {name: [table.classes[j] for j in row.nonzero()[0]] for name, row in zip(table.names, table.labels)}
    return table.classes, by_name


def labels_for_path(path: Path, by_name: dict[str, list[str]] | None) -> list[str] | None:
    """Labels of an image matched by its file stem; None without a table or row."""
    if by_name is None:
        return None
    return by_name.get(Path(path).stem)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the file header (no full decode)."""
    from PIL import Image  # noqa: PLC0415 (PIL only on this path)

    try:
        with Image.open(path) as image:
            return int(image.width), int(image.height)
    except Exception as exc:  # an image the encoder read but PIL cannot size: report, keep 0
        raise DataError(f"{path}: cannot read image size ({exc})") from None


class ImageFileSource:
    """Image files, in the given order (resolved absolute paths), labels by file stem.

    Args:
        paths: image files (e.g. :func:`expand_inputs`).
        labels_by_name: ``{file stem: [labels]}`` (:func:`read_labels`) or None.
    """

    kind = "images"

    def __init__(self, paths: list[Path], labels_by_name: dict[str, list[str]] | None = None):
        self.paths = [Path(p) for p in paths]
        self.labels_by_name = labels_by_name
        self.counts = SourceCounts()

    def __len__(self) -> int:
        return len(self.paths)

    def candidate_batches(self, size: int) -> Iterator[list[str]]:
        """The paths, ``size`` at a time."""
        for start in range(0, len(self.paths), size):
            yield [str(p) for p in self.paths[start : start + size]]

    def load(self, path: str) -> SourceItem | None:
        labels = labels_for_path(Path(path), self.labels_by_name)
        return SourceItem(path, {"path": path, "width": 0, "height": 0, "labels": labels}, file=Path(path))

    def iter_images(self, log: Callable[[str], None] = print) -> Iterator[tuple[str, np.ndarray, dict]]:
        """``(path, (H, W, 3) uint8 RGB, {"labels", "width", "height"})`` per readable file
        (unreadable ones are logged ``skipped PATH: ...`` and added to ``counts.failed``)."""

        for path in (str(p) for p in self.paths):
            try:
                image = read_rgb(path)
            except DataError as exc:
                self.counts.failed.append((path, str(exc)))
                log_skip(log, path, str(exc))
                continue
            labels = labels_for_path(Path(path), self.labels_by_name)
            yield path, np.asarray(image), {"labels": labels, "width": image.width, "height": image.height}

    def summary(self, report) -> dict:
        """The summary dict of ``index build|add`` for image files (keys unchanged)."""
        return {
            "added": report.added,
            "already_present": report.already_present,
            "failed": report.failed,
            "unlabelled": int(report.unlabelled),
            "seconds": report.seconds,
            "images_per_s": (report.attempted / report.seconds) if report.seconds > 0 and report.attempted else 0.0,
        }


# ---------------------------------------------------------------------------- scene tiles
@dataclass(frozen=True)
class TileOptions:
    """How scenes are tiled: ``tile`` px (finest band), ``stride`` (None = tile), ``bands``
    (``--bands`` text or None = :func:`mlrsir.geo.archive.default_bands`)."""

    tile: int = 256
    stride: int | None = None
    bands: str | None = None

    def check(self) -> None:
        check_tile_stride(self.tile, self.stride)


def default_radiometry_rule(requested=None):
    """A ``radiometry_for(scene, bands)`` that returns ``requested`` or the scene's default
    (:func:`mlrsir.geo.archive.default_radiometry`); for training outside an index."""

    def rule(scene, chosen):

        return requested if requested is not None else default_radiometry(scene, scene.select(chosen))

    return rule


def stored_geo(info, scene_id: str, datetime: str | None, provenance: dict | None = None) -> dict:
    """The ``geo`` stored for a tile: its georef dict (or a null-georeference one) + bands, and
    ``stac``: the STAC provenance of its scene (:func:`mlrsir.geo.scene.stac_provenance`) when known."""
    geo = (
        dict(info.geo)
        if info.geo is not None
        else {
            "scene": scene_id,
            "window": list(info.window),
            "crs": None,
            "bounds": None,
            "lonlat_bounds": None,
            "datetime": datetime,
        }
    )
    geo["bands"] = list(info.bands)
    if provenance:
        geo["stac"] = dict(provenance)
    return geo


class SceneTileSource:
    """Tiles of raster scenes, scene after scene (module doc).

    Args:
        scenes: scene paths (raster files, band folders, STAC Item ``.json``) and remote raster
            URLs (strings, :mod:`mlrsir.geo.remote`: their tile ids start with the URL), or a
            stream of scene entries with an ``open_scene() -> Scene`` method (e.g.
            :class:`~mlrsir.geo.stac_search.StacScenes`, iterated once, lazily; a DataError
            raised by the stream itself is reported under its ``url`` and ends it).
        options: :class:`TileOptions`.
        radiometry_for: ``(scene, band tokens) -> Radiometry`` (an index's fixed rule:
            :func:`mlrsir.index.scenes.index_radiometry`; else :func:`default_radiometry_rule`).
        strict: raise on the first bad scene instead of skipping it.
        log: message sink (scene lines, ``skipped ...``).
        complete: ``(scene source) -> tiles or None``: the tiles of a scene the destination
            already holds completely (such a scene is skipped unopened, its tiles counted as
            already present); None: every scene is opened.
        io_workers: tiles read at the same time by :meth:`load_many` (threads, each with its
            own open datasets; results kept in order, at most ``2 * io_workers`` tiles held);
            0: read one by one in the calling thread.
        progress: sink of the per-scene progress lines (tiles read, MB of pixels decoded, rate,
            retries; at most one a second and one at the scene's end), e.g. stderr; None: none.

    Scenes whose tiles were all loaded (or found present) without a failure are listed by
    :meth:`take_finished` (their sources: URL or resolved path), so the caller can record them
    complete once their last tiles are stored.
    """

    kind = "scenes"

    def __init__(
        self,
        scenes: Iterable[Any],
        options: TileOptions,
        radiometry_for=None,
        *,
        strict=False,
        log=print,
        complete: Callable[[str], int | None] | None = None,
        io_workers: int = 0,
        progress: Callable[[str], None] | None = None,
    ):
        options.check()
        if int(io_workers) < 0:
            raise ConfigError(f"--io-workers {io_workers}: must be >= 0 (0: read in the encoding thread)")
        self.io_workers = int(io_workers)
        self.progress = progress
        self.scenes = scenes if hasattr(scenes, "url") else [s if is_remote_url(s) else Path(s) for s in scenes]
        self.options = options
        self.radiometry_for = radiometry_for or default_radiometry_rule()
        self.strict = strict
        self.log = log
        self.complete = complete
        self.counts = SourceCounts()
        self._current: dict[str, Any] = {}
        self._finished: list[str] = []
        self._thread_local = threading.local()
        self._datasets_lock = threading.Lock()
        self._thread_datasets: list[dict] = []

    def take_finished(self) -> list[str]:
        """Sources of the scenes finished since the last call (class doc)."""
        done, self._finished = self._finished, []
        return done

    def candidate_batches(self, size: int) -> Iterator[list[str]]:
        """Tile ids of every tile that may hold data (sparse blocks skipped), at most ``size``
        at a time, scene after scene; a batch never spans two scenes, and its tiles are
        loadable (:meth:`load`) until the next batch is asked for."""
        scenes = iter(self.scenes)
        while True:
            try:
                scene_path = next(scenes)
            except StopIteration:
                break
            except DataError as exc:  # the listing itself failed (a STAC page): named, the walk ends
                self._fail(str(getattr(self.scenes, "url", "scenes")), exc)
                break
            if self._already_complete(scene_path):
                continue
            try:
                yield from self._scene_batches(scene_path, size)
            except DataError as exc:
                self._fail(scene_path, exc)
                self._current = {}
            self._end_scene()

    def _already_complete(self, scene_path: Path | str) -> bool:
        """True (counted, logged) when ``complete`` says the destination holds the whole scene."""
        if self.complete is None:
            return False
        tiles = self.complete(scene_source(str(scene_path)))  # a STAC entry's str() is its href
        if tiles is None:
            return False
        self.counts.scenes += 1
        self.counts.complete_scenes += 1
        self.counts.complete_tiles += tiles
        self.log(f"scene {printable(str(scene_path))}: complete in the index ({tiles} tiles), not read again")
        return True

    def _scene_batches(self, scene_path: Path | str, size: int) -> Iterator[list[str]]:

        scene = scene_path.open_scene() if hasattr(scene_path, "open_scene") else open_scene(scene_path)
        chosen = selection(scene, self.options.bands)
        try:
            tiler = SceneTiler(scene, chosen, tile=self.options.tile, stride=self.options.stride)
        except ConfigError as exc:
            raise DataError(f"{scene_path}: {exc}") from None
        rule = self.radiometry_for(scene, chosen)
        self.counts.radiometry = rule.to_dict()
        source = scene.source if is_remote_url(scene.source) else str(Path(scene.source).resolve())
        georef = tiler.bands[0].georeferenced
        names = ",".join(b.name for b in tiler.bands)
        crs = crs_label(tiler.bands[0].crs) if georef else "no georeference"
        self.log(
            f"scene {printable(scene.scene_id)}: {len(tiler)} tiles of {self.options.tile} px, bands {names}, {crs}"
        )
        with tiler.open_datasets() as datasets, ExitStack() as stack:
            pool = None
            if self.io_workers > 0:
                stack.callback(self._close_thread_datasets)  # after the pool's shutdown (LIFO)
                pool = stack.enter_context(ThreadPoolExecutor(self.io_workers, thread_name_prefix="mlrsir-read"))
            self._current = {
                "scene_path": scene_path,
                "scene": scene,
                "tiler": tiler,
                "rule": rule,
                "datasets": datasets,
                "windows": {},
                "failed": False,
                "source": source,
                "pool": pool,
                "meter": SceneMeter(scene.scene_id, len(tiler), self.progress),
            }
            windows = self._current["windows"]
            batch: list[str] = []
            for index, window in tiler.iter_windows():
                if len(batch) >= size:  # yielded once another window follows: the last batch is known as such
                    yield batch  # loaded (or found present) before the next is asked for
                    if self._current["failed"]:
                        return
                    batch = []
                    windows.clear()  # bounded memory: one batch of windows at a time
                path = tile_id(source, (window.col_off, window.row_off, window.width, window.height))
                windows[path] = (index, window)
                batch.append(path)
            self._current["final"] = True
            if batch:
                yield batch

    def load(self, path: str) -> SourceItem | None:
        """The RGB tile of a candidate of the current scene; None when empty (counted) or its scene failed."""

        current = self._current
        if current.get("failed") or path not in current.get("windows", {}):
            return None
        index, window = current["windows"].pop(path)
        return self._item(current, path, index, window, self._read(current, window, current["datasets"]))

    def load_many(self, paths: list[str]) -> Iterator[SourceItem | None]:
        """:meth:`load` of each path, in order; with ``io_workers`` the reads run in that many
        threads at once, at most ``2 * io_workers`` tiles ahead of the consumer."""
        current = self._current
        pool = current.get("pool")
        if pool is None:
            for i, path in enumerate(paths):
                item = self.load(path)
                if i == len(paths) - 1 and current.get("final"):
                    self._mark_finished(current)
                yield item
            return
        ahead: deque = deque()
        todo = iter(paths)

        def submit() -> bool:
            for path in todo:
                if current.get("failed") or path not in current["windows"]:
                    ahead.append((path, None, None))
                    return True
                index, window = current["windows"].pop(path)
                ahead.append((path, (index, window), pool.submit(self._read_in_thread, current, window)))
                return True
            return False

        while len(ahead) < 2 * self.io_workers and submit():
            pass
        while ahead:
            path, where, future = ahead.popleft()
            submit()
            if future is None or current.get("failed"):
                if future is not None:
                    future.cancel()
                yield None
                continue
            index, window = where
            item = self._item(current, path, index, window, future.result())
            if not ahead and current.get("final"):
                self._mark_finished(current)  # before its last item: it travels in the same chunk
            yield item

    def _mark_finished(self, current: dict) -> None:
        """List the current scene as finished once (not when it failed)."""
        if not current.get("failed") and not current.get("marked"):
            current["marked"] = True
            self._finished.append(current["source"])

    def _read_in_thread(self, current: dict, window):
        """:meth:`_read` with this worker thread's own datasets of the current scene."""
        local = self._thread_local
        if getattr(local, "scene", None) is not current:
            local.scene, local.datasets = current, {}
            with self._datasets_lock:
                self._thread_datasets.append(local.datasets)
        for band in current["tiler"].bands:
            if band.path not in local.datasets:
                local.datasets[band.path] = open_raster(band.path)
        return self._read(current, window, local.datasets)

    def _close_thread_datasets(self) -> None:
        with self._datasets_lock:
            opened, self._thread_datasets = self._thread_datasets, []
        for datasets in opened:
            for ds in datasets.values():
                ds.close()

    @staticmethod
    def _read(current: dict, window, datasets):
        """``(array or None, None)`` of a tile, or ``(None, DataError)`` when it cannot be read."""
        try:
            return current["tiler"].read_tile(datasets, window), None
        except DataError as exc:
            return None, exc

    def _item(self, current: dict, path: str, index: int, window, read) -> SourceItem | None:
        arr, error = read
        if error is not None:
            if not current.get("failed"):
                current["failed"] = True
                self._fail(current["scene_path"], error)
            return None
        current["meter"].tile(arr)
        if arr is None:
            return None
        tiler = current["tiler"]
        info = tiler.tile_info(index, window)
        scene = current["scene"]
        geo = stored_geo(info, scene.scene_id, scene.datetime, scene.provenance)
        _c, _r, w, h = info.window
        record = {"path": path, "width": w, "height": h, "labels": None, "geo": geo}
        return SourceItem(path, record, image=to_rgb(arr, current["rule"]))

    def _end_scene(self) -> None:
        current, self._current = self._current, {}
        if not current or current.get("failed"):
            return
        tiler = current["tiler"]
        current["meter"].end()
        self.counts.scenes += 1
        self._mark_finished(current)
        self.counts.skipped_empty += tiler.skipped
        if tiler.skipped:
            self.log(
                f"scene {printable(current['scene'].scene_id)}: skipped {tiler.skipped} empty (all 0 / nodata) tiles"
            )

    def _fail(self, scene_path: Path | str, exc: DataError) -> None:
        if self.strict:
            raise exc
        self.counts.failed.append((str(scene_path), str(exc)))
        log_skip(self.log, str(scene_path), str(exc))

    def iter_images(self, log: Callable[[str], None] | None = None) -> Iterator[tuple[str, np.ndarray, dict]]:
        """``(tile id, (tile, tile, 3) uint8 RGB, {"geo", "width", "height"})`` per non-empty tile."""
        if log is not None:
            self.log = log
        for batch in self.candidate_batches(256):
            for path in batch:
                item = self.load(path)
                if item is not None:
                    record = item.record
                    meta = {"geo": record["geo"], "width": record["width"], "height": record["height"]}
                    yield path, np.asarray(item.image), meta

    def summary(self, report) -> dict:
        """The summary dict of ``index build|add`` for scenes (keys unchanged)."""
        return {
            "scenes": self.counts.scenes,
            "tiles_added": report.added,
            "already_present": report.already_present + self.counts.complete_tiles,
            "complete_scenes": self.counts.complete_scenes,
            "skipped_empty": self.counts.skipped_empty,
            "not_georeferenced": report.not_georeferenced,
            "failed": list(self.counts.failed),
            "radiometry": self.counts.radiometry,
            "seconds": report.seconds,
            "tiles_per_s": report.added / report.seconds if report.seconds > 0 and report.added else 0.0,
        }


def scene_source(scene_path: Path | str) -> str:
    """The source a scene's tile ids start with: a remote URL as given, a local path resolved."""
    return str(scene_path) if is_remote_url(scene_path) else str(Path(scene_path).resolve())


def input_sources(
    inputs: list[str | Path],
    options: TileOptions | None = None,
    *,
    radiometry=None,
    labels_by_name: dict[str, list[str]] | None = None,
    strict: bool = False,
    log: Callable[[str], None] = print,
) -> list[ImageFileSource | SceneTileSource]:
    """The sources of what ``--images`` names (the ``index build`` rule of
    :func:`mlrsir.geo.archive.walk_inputs`: plain image files, then raster scenes tiled by
    ``options`` with ``radiometry`` or each scene's default); empty sources left out.

    E.g. training on whatever can be indexed::

        for source in input_sources(["scene.tif", "chips/"], TileOptions(tile=256)):
            for path, rgb, meta in source.iter_images():  # rgb: (H, W, 3) uint8
                ...
    """

    images, scenes = walk_inputs(list(inputs), INDEX_IMAGE_SUFFIXES)
    out: list[ImageFileSource | SceneTileSource] = []
    if images:
        out.append(ImageFileSource(images, labels_by_name))
    if scenes:
        rule = default_radiometry_rule(radiometry)
        out.append(SceneTileSource(scenes, options or TileOptions(), rule, strict=strict, log=log))
    return out
