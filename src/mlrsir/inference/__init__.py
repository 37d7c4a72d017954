"""Using a trained run: images in, codes out, and searching an index with them.

* :mod:`mlrsir.inference.encoder` -- ``Encoder`` / ``load_encoder``: a finished run as an
  image encoder.
* :mod:`mlrsir.inference.fingerprint` -- the model fingerprint and the one
  encoder/index compatibility check.
* :mod:`mlrsir.inference.search` -- search by image or by indexed item (CLI and web).

The network is built by :mod:`mlrsir.models.build` and read from the run directory through
:mod:`mlrsir.run`; this package does not import :mod:`mlrsir.training`.

Submodules are imported on demand (this package imports nothing, so the light ones do
not pull in torch).
"""
