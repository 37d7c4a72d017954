"""Using a trained run: images in, codes out, and searching an index with them.

* :mod:`mlrsir.inference.model` -- the network of a run's configuration (``build_model``).
* :mod:`mlrsir.inference.encoder` -- ``Encoder`` / ``load_encoder``: a finished run as an
  image encoder.
* :mod:`mlrsir.inference.fast_copy` -- BatchNorm-folded, channels-last copy for fast CPU
  encoding.
* :mod:`mlrsir.inference.fingerprint` -- the model fingerprint and the one
  encoder/index compatibility check.
* :mod:`mlrsir.inference.search` -- search by image or by indexed item (CLI and web).

Submodules are imported on demand (this package imports nothing, so the light ones do
not pull in torch).
"""
