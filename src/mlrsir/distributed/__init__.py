"""Scaling out: encoding archives on Ray (:mod:`mlrsir.distributed.ray_encode`).

Data-parallel training lives in :mod:`mlrsir.training.distributed`.
"""
