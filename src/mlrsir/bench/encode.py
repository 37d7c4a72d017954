"""``mlrsir bench encode``: encoding throughput of a run, runtimes side by side.

Each *configuration* (:class:`EncodeConfig`: a runtime, and an engine, ``local`` today)
is measured in turn in the same process on the same images, so the numbers are comparable
on a shared machine (report the ratios as well as the absolute values):

- ``end_to_end``: image files -> codes with ``Encoder.encode_paths`` (decode in a thread
  pool overlapped with inference + encode), images/s;
- ``model``: already decoded ``uint8 (B, 3, S, S)`` batches -> codes with
  ``Encoder.encode_uint8`` (the model alone), images/s;

each at every batch size of ``batch_sizes`` (default 1 and 64). A new dimension (e.g. an
engine that distributes the work) is a new field of :class:`EncodeConfig` and a branch in
:func:`measure_config`; the table gets one row per configuration.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.bench.ray import bench_session, ray_rate
from mlrsir.data.images import read_rgb, rgb_to_uint8_array
from mlrsir.errors import ConfigError
from mlrsir.index.ingest import list_images
from mlrsir.inference.encoder import load_encoder


@dataclass(frozen=True)
class EncodeConfig:
    """One row of the benchmark: how the images are encoded."""

    runtime: str = "torch"
    engine: str = "local"
    workers: int = 1  # encoder actors (engine "ray")

    @property
    def label(self) -> str:
        return f"{self.runtime}/{self.engine}" + (f"/{self.workers}w" if self.engine == "ray" else "")


def _rate(fn, n_items: int, budget_s: float, min_repeats: int = 1) -> float:
    """images/s of ``fn()`` (which encodes ``n_items``), repeated until ``budget_s`` passed."""
    fn()  # warm-up (session initialisation, allocator)
    done, start = 0, time.perf_counter()
    repeats = 0
    while repeats < min_repeats or time.perf_counter() - start < budget_s:
        fn()
        done += n_items
        repeats += 1
    return done / (time.perf_counter() - start)


def measure_config(
    config: EncodeConfig,
    run_dir: str | Path,
    paths: list[Path],
    images,
    *,
    batch_sizes=(1, 64),
    budget_s: float = 5.0,
    batch1_images: int = 64,
) -> dict[str, Any]:
    """Throughputs of one configuration (see the module docstring)."""
    import torch  # noqa: PLC0415 (torch only on this path)

    if config.engine not in ("local", "ray"):
        raise ConfigError(f"engine {config.engine!r}: expected 'local' or 'ray'")
    if config.engine == "ray":  # the whole job on Ray (mlrsir.bench.ray)
        encoder = load_encoder(run_dir, runtime=config.runtime)
        ray_row: dict[str, Any] = {
            "runtime": encoder.runtime,
            "engine": f"ray ({config.workers} workers)",
            "config": config.label,
        }
        for b in batch_sizes:
            ray_row[f"model_b{b}"] = None
            ray_row[f"end_to_end_b{b}"] = (
                None
                if b == 1
                else ray_rate(
                    run_dir,
                    paths,
                    workers=config.workers,
                    batch_size=b,
                    budget_s=budget_s,
                    image_size=encoder.image_size,
                    bits=encoder.bits,
                )
            )
        return ray_row
    encoder = load_encoder(run_dir, runtime=config.runtime)
    row: dict[str, Any] = {"runtime": encoder.runtime, "engine": config.engine, "config": config.label}
    for b in batch_sizes:
        subset = paths if b > 1 else paths[:batch1_images]
        row[f"end_to_end_b{b}"] = _rate(
            lambda subset=subset, b=b: encoder.encode_paths(subset, batch_size=b, progress=False), len(subset), budget_s
        )
        n = min(len(images), max(b, batch1_images if b == 1 else len(images)))
        batches = [torch.from_numpy(images[i : i + b]) for i in range(0, n, b)]

        def model_only(batches=batches):
            for x in batches:
                encoder.encode_uint8(x)

        row[f"model_b{b}"] = _rate(model_only, n, budget_s)
    return row


def run_encode_bench(
    run_dir: str | Path,
    image_folder: str | Path,
    configs: list[EncodeConfig],
    *,
    max_images: int = 640,
    batch_sizes=(1, 64),
    budget_s: float = 5.0,
    log=print,
) -> dict[str, Any]:
    """Measure every configuration in turn on the first ``max_images`` images of the folder."""
    import torch  # noqa: PLC0415 (torch only on this path)

    paths = list_images(image_folder)[:max_images]
    size = load_encoder(run_dir, runtime="torch").image_size
    images = np.stack([rgb_to_uint8_array(read_rgb(p), size) for p in paths])
    rows = []
    ray_workers = [c.workers for c in configs if c.engine == "ray"]
    if ray_workers:  # one local Ray for every Ray row
        session: AbstractContextManager[Any] = bench_session(max(ray_workers))
    else:
        session = nullcontext()
    with session:
        for config in configs:
            log(f"measuring {config.label} ...")
            rows.append(measure_config(config, run_dir, paths, images, batch_sizes=batch_sizes, budget_s=budget_s))
    return {
        "run": str(run_dir),
        "images": len(paths),
        "image_size": size,
        "torch_threads": torch.get_num_threads(),
        "batch_sizes": list(batch_sizes),
        "rows": rows,
    }


def to_markdown(result: dict[str, Any]) -> str:
    """Table: one row per configuration, images/s and the ratio to the first row."""
    sizes = result["batch_sizes"]
    keys = [f"end_to_end_b{b}" for b in sizes] + [f"model_b{b}" for b in sizes]
    heads = [f"files->codes b{b}" for b in sizes] + [f"model alone b{b}" for b in sizes]
    lines = [
        f"Encoding throughput, images/s ({result['images']} images at {result['image_size']}x{result['image_size']}, "
        f"{result['torch_threads']} threads; x = ratio to the first row)",
        "",
        "| runtime | engine | " + " | ".join(heads) + " |",
        "|---|---|" + "---:|" * len(heads),
    ]
    base = result["rows"][0] if result["rows"] else {}
    for row in result["rows"]:
        cells = [
            "-" if row.get(k) is None else f"{row[k]:.0f}" + (f" ({row[k] / base[k]:.2f}x)" if base.get(k) else "")
            for k in keys
        ]
        lines.append(f"| {row['runtime']} | {row['engine']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
