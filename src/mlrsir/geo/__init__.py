"""Real satellite archives: scenes, windowed tiling, radiometry and georeference.

Independent of :mod:`mlrsir.index`, :mod:`mlrsir.web` and :mod:`mlrsir.cli`. Needs the
optional extra ``geo`` (rasterio, pyproj, pystac, pyarrow). Modules:

* :mod:`~mlrsir.geo.bands`: band names from file names, band selection.
* :mod:`~mlrsir.geo.raster`: opening rasters with errors naming the file; band sources.
* :mod:`~mlrsir.geo.remote`: ``https://`` / ``s3://`` rasters read in place (GDAL paths, COG
  settings, ``s3://`` prefix listing); :mod:`~mlrsir.geo.hrefs`: which STAC hrefs are followed.
* :mod:`~mlrsir.geo.scene`: a scene from one raster, a folder of per-band files or a
  STAC Item (with its provenance).
* :mod:`~mlrsir.geo.stac_search`: the Items of a STAC API search or a static catalogue walk,
  streamed as scenes (``--stac``); :mod:`~mlrsir.geo.stac_io`: STAC JSON reads with timeouts.
* :mod:`~mlrsir.geo.acquisition`: acquisition datetime from metadata or names.
* :mod:`~mlrsir.geo.tiling`: tiles on the finest band's grid, read window by window.
* :mod:`~mlrsir.geo.tile_check`: the one check of the tile / stride options.
* :mod:`~mlrsir.geo.radiometry`: the fixed uint16 -> 0..255 mapping of an index.
* :mod:`~mlrsir.geo.georef`: the per-tile ``geo`` dict (native and lon/lat bounds).
* :mod:`~mlrsir.geo.geojson` / :mod:`~mlrsir.geo.geoparquet`: footprint output.
* the peak-RSS / tiles-per-second benchmark is :mod:`mlrsir.bench.scene_rss` (`mlrsir bench scene-rss`).
"""
