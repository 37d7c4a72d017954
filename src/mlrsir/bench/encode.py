"""``mlrsir bench encode``: encoding throughput of a run, runtimes and precisions side by side.

Each *configuration* (:class:`EncodeConfig`: a runtime, a precision, and an engine) is
measured in turn in the same process on the same images, so the numbers are comparable
on a shared machine (report the ratios as well as the absolute values):

- ``end_to_end``: image files -> codes with ``Encoder.encode_paths`` (decode in a thread
  pool overlapped with inference + encode), images/s;
- ``model``: already decoded ``uint8 (B, 3, S, S)`` batches -> codes with
  ``Encoder.encode_uint8`` (the model alone), images/s;

each at every batch size of ``batch_sizes`` (default 1 and 64); and, for local rows, the
codes of all the images compared with those of the first local fp32 row: ``bits_agree``
(share of equal bits) and ``codes_identical`` (share of images whose code is equal in every
bit). A row records the ``runtime`` and ``precision`` the encoder actually used. A new dimension (e.g. an
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
from mlrsir.inference.runtimes import PRECISIONS, RUNTIME_PRECISIONS


@dataclass(frozen=True)
class EncodeConfig:
    """One row of the benchmark: how the images are encoded."""

    runtime: str = "torch"
    engine: str = "local"
    workers: int = 1  # encoder actors (engine "ray")
    precision: str = "fp32"

    @property
    def label(self) -> str:
        return (
            f"{self.runtime}/{self.engine}"
            + (f"/{self.precision}" if self.precision != "fp32" else "")
            + (f"/{self.workers}w" if self.engine == "ray" else "")
        )


def precisions_to_measure(runtime: str, wanted=None) -> list[str]:
    """The precisions measured for ``runtime``: every one it runs (``auto``: fp32), or those of
    ``wanted`` (``--precision``, repeatable) it runs.

    Raises:
        ConfigError: ``runtime`` runs none of ``wanted``.
    """
    runs = RUNTIME_PRECISIONS.get(runtime, PRECISIONS)
    if not wanted:
        return list(runs) if runtime != "auto" else ["fp32"]
    chosen = [p for p in runs if p in wanted]
    if not chosen:
        raise ConfigError(f"--precision {' '.join(wanted)}: --runtime {runtime} runs {', '.join(runs)} only")
    return chosen


def _codes(encoder, images, batch: int = 64):
    """Codes of every decoded image (``uint8 (N, 3, S, S)``), in batches."""
    import torch  # noqa: PLC0415 (torch only on this path)

    parts = [encoder.encode_uint8(torch.from_numpy(images[i : i + batch]))[0] for i in range(0, len(images), batch)]
    return np.concatenate(parts) if parts else np.zeros((0, encoder.bits), np.uint8)


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
    codes_out: list | None = None,
) -> dict[str, Any]:
    """Throughputs of one configuration (see the module docstring); a local row's codes of all
    ``images`` are appended to ``codes_out`` when given."""
    import torch  # noqa: PLC0415 (torch only on this path)

    if config.engine not in ("local", "ray"):
        raise ConfigError(f"engine {config.engine!r}: expected 'local' or 'ray'")
    if config.engine == "ray":  # the whole job on Ray (mlrsir.bench.ray)
        encoder = load_encoder(run_dir, runtime=config.runtime, precision=config.precision)
        ray_row: dict[str, Any] = {
            "runtime": encoder.runtime,
            "precision": encoder.precision,
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
    encoder = load_encoder(run_dir, runtime=config.runtime, precision=config.precision)
    row: dict[str, Any] = {
        "runtime": encoder.runtime,
        "precision": encoder.precision,
        "engine": config.engine,
        "config": config.label,
    }
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
    if codes_out is not None:
        codes_out.append(_codes(encoder, images))
    return row


def add_agreement(rows: list[dict[str, Any]], codes: list) -> None:
    """Set ``bits_agree`` and ``codes_identical`` of every row against the first fp32 row with
    codes (``codes[i]``: the row's codes, None for rows without them, e.g. Ray rows)."""

    ref = next((c for r, c in zip(rows, codes) if c is not None and r.get("precision") == "fp32"), None)
    for row, c in zip(rows, codes):
        if ref is None or c is None:
            row["bits_agree"] = row["codes_identical"] = None
            continue
        equal = np.asarray(c) == np.asarray(ref)
        row["bits_agree"] = float(equal.mean()) if equal.size else 1.0
        row["codes_identical"] = float(equal.all(axis=1).mean()) if len(equal) else 1.0


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
    codes: list = []
    with session:
        for config in configs:
            log(f"measuring {config.label} ...")
            found: list = []
            rows.append(
                measure_config(
                    config, run_dir, paths, images, batch_sizes=batch_sizes, budget_s=budget_s, codes_out=found
                )
            )
            codes.append(found[0] if found else None)
    add_agreement(rows, codes)
    return {
        "run": str(run_dir),
        "images": len(paths),
        "image_size": size,
        "torch_threads": torch.get_num_threads(),
        "batch_sizes": list(batch_sizes),
        "rows": rows,
    }


def to_markdown(result: dict[str, Any]) -> str:
    """Table: one row per configuration, images/s and the ratio to the first row, and the
    codes' agreement with the first fp32 row."""
    sizes = result["batch_sizes"]
    keys = [f"end_to_end_b{b}" for b in sizes] + [f"model_b{b}" for b in sizes]
    heads = [f"files->codes b{b}" for b in sizes] + [f"model alone b{b}" for b in sizes]
    lines = [
        f"Encoding throughput, images/s ({result['images']} images at {result['image_size']}x{result['image_size']}, "
        f"{result['torch_threads']} threads; x = ratio to the first row; bits / codes equal: "
        "against the first fp32 row)",
        "",
        "| runtime | precision | engine | " + " | ".join(heads) + " | bits equal | codes equal |",
        "|---|---|---|" + "---:|" * (len(heads) + 2),
    ]
    base = result["rows"][0] if result["rows"] else {}
    for row in result["rows"]:
        cells = [
            "-" if row.get(k) is None else f"{row[k]:.0f}" + (f" ({row[k] / base[k]:.2f}x)" if base.get(k) else "")
            for k in keys
        ]
        cells += ["-" if row.get(k) is None else f"{row[k] * 100:.2f} %" for k in ("bits_agree", "codes_identical")]
        lines.append(
            f"| {row['runtime']} | {row.get('precision', 'fp32')} | {row['engine']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"
