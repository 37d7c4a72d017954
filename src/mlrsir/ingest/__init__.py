"""From a source to the index: one pipeline for every kind of input and every engine.

::

    source (what to read)        engine (where to encode)       fill loop (one rule)
    ImageFileSource  --+                                      +-- skip paths already present
    SceneTileSource  --+--> SourceItem --> LocalEngine  --+--> +-- one atomic add per chunk
    (remote/STAC next) |                   RayEngine    --+    +-- one report (FillReport)

* :mod:`mlrsir.sources` (below ingest, training reads it too): :class:`~mlrsir.sources.ImageFileSource` (image
  files, labels by file stem) and :class:`~mlrsir.sources.SceneTileSource`
  (raster scenes cut into tiles). A source names its items cheaply
  (:meth:`candidates`, no pixel read), loads one on demand (:meth:`load`), and gives
  training its images through :meth:`iter_images` ``-> (item path, (H, W, 3) uint8, metadata)``.
* :mod:`mlrsir.ingest.engines`: :class:`~mlrsir.ingest.engines.LocalEngine` (the run's
  encoder in this process); :mod:`mlrsir.ingest.ray_engine`:
  :class:`~mlrsir.ingest.ray_engine.RayEngine` (a Ray Data pipeline, image files only).
* :mod:`mlrsir.ingest.fill`: :func:`~mlrsir.ingest.fill.fill_index`, the one loop, and
  :func:`~mlrsir.ingest.fill.add_new`, the one transaction rule (also under concurrency).
"""
