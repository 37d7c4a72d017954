"""Filling an index from satellite scenes: tile, map radiometry, encode, add with geo.

Used by ``mlrsir index build|add`` for the inputs :func:`mlrsir.geo.archive.walk_inputs`
classes as scenes (rasters, band folders, STAC Items). For each scene: open it
(:func:`mlrsir.geo.scene.open_scene`), choose the bands (``--bands`` or
:func:`mlrsir.geo.archive.default_bands`), tile it with
:class:`mlrsir.geo.tiling.SceneTiler` (windowed reads, empty tiles skipped and counted),
map each tile through the index's fixed radiometry to 8-bit RGB, encode in batches and
add each chunk atomically with its ``geo`` (the :mod:`mlrsir.geo.georef` dict plus the
band names; ``crs``/``bounds``/``lonlat_bounds`` null without georeference). Item paths
are tile ids ``SCENE_PATH#col,row,width,height``; tiles already in the index are skipped
before they are read, and scenes recorded complete are not even opened
(:mod:`mlrsir.index.ingest_log`; an interrupted build resumes with the same command). Windows are
streamed in bounded batches and blocks a sparse GeoTIFF never wrote are skipped unread
(:mod:`mlrsir.geo.tiling`), so memory does not depend on the size a scene declares.

Radiometry: :func:`index_radiometry` returns the rule stored in the index, or stores one
(the ``--radiometry`` option, else the default for the first scene) the first time a
scene is added; it is never re-estimated.

Bad scenes (missing band file, different CRSs, corrupt/truncated raster, tile larger
than the scene) are reported by name and skipped (``strict``: raised); tiles already
added stay.
"""

from __future__ import annotations

from mlrsir.errors import ConfigError
from mlrsir.geo.archive import default_radiometry
from mlrsir.geo.radiometry import Radiometry
from mlrsir.geo.read_progress import stderr_lines
from mlrsir.index import ingest_log
from mlrsir.inference.search import public_geo  # noqa: F401  (re-exported)
from mlrsir.ingest.engines import LocalEngine
from mlrsir.ingest.fill import fill_index
from mlrsir.sources import SceneTileSource, TileOptions


def index_radiometry(index, scene=None, bands=None, requested=None):
    """The index's :class:`~mlrsir.geo.radiometry.Radiometry`, storing one if none is.

    ``requested`` (a Radiometry or None) must equal the stored rule when one exists.
    """

    if index.radiometry is not None:
        stored = Radiometry.from_dict(index.radiometry)
        if requested is not None and requested != stored:
            raise ConfigError(
                f"--radiometry {requested.to_dict()}: the index {index.path} already uses {stored.to_dict()} "
                "(the rule is fixed per index)"
            )
        return stored
    if requested is None:
        if scene is None:
            raise ConfigError(f"{index.path}: the index stores no radiometry (no raster scene was indexed)")
        requested = default_radiometry(scene, scene.select(bands))
    index.set_radiometry(requested.to_dict())
    return requested


def encode_scenes_into_index(
    index,
    encoder,
    scenes,
    *,
    tile: int = 256,
    stride: int | None = None,
    bands: str | None = None,
    radiometry=None,
    batch_size: int = 64,
    strict: bool = False,
    progress: bool = True,
    log=print,
    skip_complete: bool = True,
    io_workers: int = 0,
) -> dict:
    """Tile, encode and add every scene (module doc): the fill loop of :mod:`mlrsir.ingest`
    with a :class:`~mlrsir.sources.SceneTileSource` and the in-process engine. ``scenes``: scene
    paths / URLs, or a stream of STAC Items (:class:`mlrsir.geo.stac_search.StacScenes`).

    Scenes the index holds completely with this tiling (:mod:`mlrsir.index.ingest_log`) are
    skipped unopened (``skip_complete`` False: opened, their tiles skipped one by one), and
    every scene whose tiles are all stored is recorded complete. ``io_workers`` > 0: tiles are
    read in that many threads, overlapping the encoding (:mod:`mlrsir.ingest.fill`); with
    ``progress``, one line per scene (tiles, MB of pixels, tiles/s, retries) goes to stderr.

    Returns:
        ``{"scenes", "tiles_added", "already_present", "complete_scenes", "skipped_empty",
        "not_georeferenced", "failed": [(path, message)], "seconds", "tiles_per_s", "radiometry"}``.
    """

    options = TileOptions(tile=tile, stride=stride, bands=bands)
    options.check()
    if radiometry is not None and index.radiometry is not None:
        index_radiometry(index, requested=radiometry)  # a different rule than the stored one: refuse first
    tiling = ingest_log.tiling_key(tile, stride, bands)
    source = SceneTileSource(
        scenes,
        options,
        lambda scene, chosen: index_radiometry(index, scene, chosen, radiometry),
        strict=strict,
        log=log,
        complete=(lambda src: ingest_log.complete_tiles(index, src, tiling)) if skip_complete else None,
        io_workers=io_workers,
        progress=stderr_lines if progress else None,
    )
    engine = LocalEngine(encoder, batch_size=batch_size, strict=strict)
    report = fill_index(
        index,
        source,
        engine,
        batch_size=batch_size,
        strict=strict,
        progress=progress,
        log=log,
        on_settled=None if index.readonly else (lambda done: ingest_log.mark_complete(index, done, tiling)),
    )
    return source.summary(report)
