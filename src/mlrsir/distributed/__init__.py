"""The Ray encoding benchmark's engine row (:mod:`mlrsir.distributed.bench_ray`).

The Ray engine itself is :mod:`mlrsir.ingest.ray_engine`; data-parallel training lives in
:mod:`mlrsir.training.ddp`.
"""
