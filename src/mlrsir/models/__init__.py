"""The network and its preparation.

* :mod:`mlrsir.models.mlrsir_net` -- ``MLRSIRNet``: backbone, multi-level fusion, CBAM, hash head
  (:mod:`~mlrsir.models.backbones`, :mod:`~mlrsir.models.fusion`, :mod:`~mlrsir.models.cbam`,
  :mod:`~mlrsir.models.hash_head`).
* :mod:`mlrsir.models.build` -- ``build_model``: the network of a run's configuration.
* :mod:`mlrsir.models.input_spec` -- what the network takes as input (8-bit RGB or N bands):
  ``input_spec``, ``load_band_array``.
* :mod:`mlrsir.models.in_chans` -- widening the first convolution to N bands.
* :mod:`mlrsir.models.fast_copy` -- BatchNorm-folded, channels-last copy for fast CPU encoding.
"""
