"""Filling an index from image files (``mlrsir index build|add``): the entry point kept for
its callers; the pipeline is :mod:`mlrsir.ingest` (sources, engines, one fill loop).

Paths are stored absolute and resolved (``Path.resolve()``), so the same file is
recognised whatever folder a later ``add`` names. Encoding goes through the run's encoder
in chunks of ``4 * batch_size`` images; each chunk is one atomic ``CodeIndex.add``, so an
interrupted build keeps every finished chunk and ``mlrsir index add`` with the same
folder resumes it (paths already present are skipped, also when another process adds
them at the same time).
"""

from __future__ import annotations

from pathlib import Path

from mlrsir.ingest.engines import LocalEngine, load_hashing_encoder
from mlrsir.ingest.fill import fill_index
from mlrsir.sources import (
    INDEX_IMAGE_SUFFIXES,
    ImageFileSource,
    expand_inputs,
    image_size,
    labels_for_path,
    list_images,
    read_labels,
)

__all__ = [
    "INDEX_IMAGE_SUFFIXES",
    "encode_into_index",
    "expand_inputs",
    "image_size",
    "labels_for_path",
    "list_images",
    "load_hashing_encoder",
    "read_labels",
]


def encode_into_index(
    index,
    encoder,
    paths: list[Path],
    *,
    labels_by_name=None,
    batch_size: int = 64,
    strict: bool = False,
    progress: bool = True,
    log=print,
) -> dict:
    """Encode ``paths`` not yet in ``index`` in this process and add them, chunk by chunk.

    Returns:
        ``{"added", "already_present", "failed": [(path, message)], "unlabelled",
        "seconds", "images_per_s"}``.
    """
    source = ImageFileSource(paths, labels_by_name)
    engine = LocalEngine(encoder, batch_size=batch_size, strict=strict)
    report = fill_index(index, source, engine, batch_size=batch_size, strict=strict, progress=progress, log=log)
    return source.summary(report)
