"""The ``ray`` engine of ``mlrsir bench encode --engine ray`` (and ``mlrsir bench ray``):
image files -> codes through the Ray Data pipeline of :mod:`mlrsir.ingest.ray_engine` (decode tasks +
``workers`` encoder actors), images/s of the whole job.

Each timed repeat is a complete job: actor start-up and model loading are included (Ray
Data does not keep actors between datasets), so on small image sets the figure is a lower
bound of the steady-state rate. One local Ray is started for all Ray rows (sized for the
largest worker count) and shut down at the end.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

from mlrsir.ingest.ray_engine import RayOptions, encode_paths_ray, ray_session


@contextmanager
def bench_session(max_workers: int):
    with ray_session(RayOptions(workers=max_workers)) as ray:
        yield ray


def ray_rate(
    run_dir: str | Path,
    paths: list[Path],
    *,
    workers: int,
    batch_size: int,
    budget_s: float,
    image_size: int,
    bits: int,
) -> float:
    """images/s of encoding ``paths`` on Ray with ``workers`` actors (one warm-up job, then
    repeated jobs until ``budget_s``; at least one timed job)."""
    options = RayOptions(workers=workers, batch_size=batch_size)
    encode_paths_ray(run_dir, paths, image_size, bits, options, progress=False)  # warm-up
    done, repeats, start = 0, 0, time.perf_counter()
    while repeats < 1 or time.perf_counter() - start < budget_s:
        encode_paths_ray(run_dir, paths, image_size, bits, options, progress=False)
        done += len(paths)
        repeats += 1
    return done / (time.perf_counter() - start)
