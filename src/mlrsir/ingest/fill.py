"""The one fill loop: a source's items, encoded by an engine, added to an index.

Rules (the same for every source and engine):

* **skip rule**: candidates are checked against the index in bounded batches
  (``ids_for_paths``) before anything is read; items present are counted
  (``already_present``) and never read or encoded.
* **transaction rule**: items are encoded in chunks of ``4 * batch_size`` and each chunk
  is ONE atomic ``CodeIndex.add`` (:func:`add_new`), so an interrupted build keeps every
  finished chunk and the same command resumes it. A path another process added meanwhile
  (two ``index add`` of one folder at once) is skipped, not an error.
* **report**: :class:`FillReport`; each source turns it into its summary dict (keys as
  before: ``added``/``already_present``/``failed``/``unlabelled``/``seconds``/
  ``images_per_s`` for images, ``scenes``/``tiles_added``/... for scenes).

* **overlap**: a source with ``io_workers > 0`` (scenes) reads its tiles in that many threads
  (``load_many``) and the next chunk is read in a background thread while the engine encodes
  the current one (:func:`mlrsir.ingest.prefetch.prefetched`): pixels held are at most three
  chunks plus ``2 * io_workers`` tiles.
* **settle rule**: a source with ``take_finished()`` (scenes) lists the units it finished;
  each is passed to ``on_settled`` once the transaction holding its last items has
  committed (so a scene is recorded complete only when all its tiles are stored).

Unreadable items are logged ``skipped PATH: message`` and listed in ``failed``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tqdm import tqdm

from mlrsir.errors import DataError, IndexStoreError
from mlrsir.ingest.prefetch import prefetched
from mlrsir.sources import SourceItem, image_size, log_skip
from mlrsir.text import printable

CHECK_BATCH = 1024
"""Candidates checked against the index (and, for scenes, windows held) at a time."""


@dataclass
class FillReport:
    """What one fill did: ``added`` items, ``already_present`` (skipped), ``attempted``
    (not present, sent to the engine), ``failed`` ``[(path, message)]``, ``unlabelled``
    (labels expected but no row), ``not_georeferenced`` (added with ``geo.crs`` null),
    ``seconds`` of the whole fill, ``engine`` extras (e.g. Ray ``worker_pids``)."""

    added: int = 0
    already_present: int = 0
    attempted: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unlabelled: int = 0
    not_georeferenced: int = 0
    seconds: float = 0.0
    engine: dict = field(default_factory=dict)


def add_new(index, records: list[dict], codes) -> list[dict]:
    """Add the records whose paths are not in ``index`` yet, in one transaction; returns
    the records added. When another process adds some of the same paths between the
    check and the write, the (rolled back) add is retried without them."""
    for _attempt in range(8):
        present = index.ids_for_paths([r["path"] for r in records])
        keep = [i for i, r in enumerate(records) if r["path"] not in present]
        if not keep:
            return []
        try:
            added = [records[i] for i in keep]
            index.add(added, codes[keep])
            return added
        except IndexStoreError:
            if not index.ids_for_paths([records[i]["path"] for i in keep]):
                raise  # not a path conflict
    raise IndexStoreError(f"{index.path}: paths kept being added by another process; run the command again")


def _pending(index, source, report: FillReport) -> Iterator[SourceItem]:
    """The source's items not yet in ``index`` (skip rule), loaded one by one."""
    load_many = getattr(source, "load_many", None)
    for batch in source.candidate_batches(CHECK_BATCH):
        present = index.ids_for_paths(batch)
        todo = [path for path in batch if path not in present]
        report.already_present += len(batch) - len(todo)
        loaded = load_many(todo) if load_many is not None else (source.load(path) for path in todo)
        for item in loaded:
            if item is not None:
                report.attempted += 1
                yield item


def _chunks(items: Iterator[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    chunk: list[SourceItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill_index(
    index,
    source,
    engine,
    *,
    batch_size: int = 64,
    strict: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    on_settled: Callable[[list[str]], None] | None = None,
) -> FillReport:
    """Encode the items of ``source`` that ``index`` does not hold with ``engine`` and add
    them, chunk by chunk (module doc). Returns the :class:`FillReport`; the source's
    ``summary(report)`` gives the command's summary dict. ``on_settled``: the settle rule."""

    report = FillReport()
    labelled = getattr(source, "labels_by_name", None) is not None
    start = time.perf_counter()
    bar = tqdm(total=getattr(source, "__len__", None) and len(source), unit="item", disable=not progress)
    finished = getattr(source, "take_finished", None) if on_settled is not None else None
    settles: dict[int, list[str]] = {}

    def tagged(chunks: Iterator[list[SourceItem]]) -> Iterator[list[SourceItem]]:
        for chunk in chunks:  # units finished before this chunk was full have all their items in it or before
            settles[id(chunk)] = finished() if finished is not None else []
            yield chunk

    try:
        chunks = tagged(_chunks(_pending(index, source, report), max(1, 4 * int(batch_size))))
        if getattr(source, "io_workers", 0) > 0:
            chunks = prefetched(chunks, depth=1)  # the next chunk is read while this one is encoded
        for chunk, encoded in engine.encode_chunks(chunks):
            for path, message in encoded.errors:
                if strict:
                    raise DataError(message)
                report.failed.append((path, message))
                log_skip(log, path, message)
            records, keep = [], []
            for row, item in enumerate(chunk):
                if not encoded.ok[row]:
                    continue
                record = dict(item.record)
                if item.file is not None:
                    try:
                        found = encoded.sizes[row]
                        record["width"], record["height"] = found if found is not None else image_size(item.file)
                    except DataError as exc:
                        if strict:
                            raise
                        report.failed.append((item.path, str(exc)))
                        log(f"skipped {printable(exc)}")
                        continue
                report.unlabelled += labelled and record.get("labels") is None
                records.append(record)
                keep.append(row)
            if records:
                added = add_new(index, records, encoded.codes[keep])
                report.added += len(added)
                report.not_georeferenced += sum(
                    1 for r in added if r.get("geo") is not None and r["geo"].get("crs") is None
                )
            bar.update(len(chunk))
            done = settles.pop(id(chunk), [])
            if done and on_settled is not None:
                on_settled(done)
        if finished is not None and on_settled is not None:
            done = finished()  # units finished after the last chunk (all their items already stored)
            if done:
                on_settled(done)
    finally:
        bar.close()
    report.engine = engine.extra_summary()
    report.seconds = time.perf_counter() - start
    return report
