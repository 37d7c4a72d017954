"""A run directory's format, shared by training (which writes it) and inference (which reads it).

* :mod:`mlrsir.run.config` -- ``TrainConfig`` / ``resolve_config``: the frozen, fully
  resolved configuration stored as ``config.json``.
* :mod:`mlrsir.run.checkpoint` -- safetensors weights and the resumable training checkpoint.
* :mod:`mlrsir.run.run_dir` -- ``RunPaths`` (the files of a run), environment and git
  revision records, atomic JSON writes.

This package sits below :mod:`mlrsir.training` and :mod:`mlrsir.inference`; it holds no
trainer and no optimiser.
"""
