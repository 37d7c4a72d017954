"""``mlrsir bench encode``: encoding throughput of a run, runtimes and precisions side by side.

Each *configuration* (:class:`EncodeConfig`: a runtime, a precision, and an engine) is
measured in turn in the same process on the same images, so the numbers are comparable
on a shared machine (report the ratios as well as the absolute values):

- ``end_to_end``: image files -> codes with ``Encoder.encode_paths`` (decode in a thread
  pool overlapped with inference + encode), images/s;
- ``sequential``: the same with ``overlap=False`` (each batch decoded in the calling
  thread, then encoded: the baseline of the overlap; same codes), images/s;
- ``model``: already decoded ``uint8 (B, 3, S, S)`` batches -> codes with
  ``Encoder.encode_uint8`` (the model alone), images/s;

each at every batch size of ``batch_sizes`` (default 1 and 64); and, for local rows, the
codes of all the images compared with those of the first local fp32 row: ``bits_agree``
(share of equal bits) and ``codes_identical`` (share of images whose code is equal in every
bit). Once per run, independent of the runtime, the decode ceiling (:func:`decode_rates`):
image files -> ``uint8 (3, S, S)`` on one thread and in the encoder's 4-thread pool, the
exact decode ``encode_paths`` uses, JPEG draft mode to the input size (not used by
``encode_paths``: it changes pixels; ``draft_bits_agree`` says by how much in codes) and
windows of a GeoTIFF scene (as ``index build`` tiles it). :func:`where_time_goes` turns
a row into milliseconds per image. A row records the ``runtime`` and ``precision`` the
encoder actually used. A new dimension (e.g. an engine that distributes the work) is a
new field of :class:`EncodeConfig` and a branch in :func:`measure_config`; the table gets one row per configuration.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mlrsir.bench.machine import load_average, load_sentence
from mlrsir.bench.ray import bench_session, ray_rate
from mlrsir.data.images import read_rgb, rgb_to_uint8_array
from mlrsir.errors import ConfigError
from mlrsir.index.ingest import list_images
from mlrsir.inference.encoder import decode_for_encoding, load_encoder
from mlrsir.inference.int8_files import int8_problem
from mlrsir.inference.runtimes import PRECISIONS, RUNTIME_PRECISIONS
from mlrsir.sources import SceneTileSource, TileOptions


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


def precisions_to_measure(runtime: str, wanted=None, run_dir=None) -> list[str]:
    """The precisions measured for ``runtime``: every one it runs (``auto``: fp32; ``int8`` only
    when ``run_dir`` is given and has a current int8 model), or those of ``wanted``
    (``--precision``, repeatable) it runs.

    Raises:
        ConfigError: ``runtime`` runs none of ``wanted``.
    """
    runs = RUNTIME_PRECISIONS.get(runtime, PRECISIONS)
    if not wanted:
        if runtime == "auto":
            return ["fp32"]
        return [p for p in runs if p != "int8" or (run_dir is not None and int8_problem(run_dir) is None)]
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


def draft_decode(path: Path, size: int) -> np.ndarray:
    """``uint8 (3, size, size)`` of an image file with JPEG draft mode to the input size
    (the decoder scales by 1/2 .. 1/8 while the result stays >= ``size``; other formats
    decode fully), then the exact resize: a decode ceiling, not the encoder's pixels."""
    with Image.open(path) as image:
        if image.format == "JPEG":
            image.draft("RGB", (size, size))
        return rgb_to_uint8_array(image.convert("RGB"), size)


def scene_tiles(scene: str | Path, size: int, tile: int = 256) -> int:
    """Tile ``scene`` as ``index build`` does (B04,B03,B02 -> RGB, the scene's default
    radiometry, ``tile`` px) and resize each tile to ``size``; returns the tile count."""
    source = SceneTileSource([Path(scene)], TileOptions(tile=tile), log=lambda _m: None)
    n = 0
    for batch in source.candidate_batches(64):
        for tile_path in batch:
            item = source.load(tile_path)
            if item is not None and item.image is not None:
                rgb_to_uint8_array(item.image, size)
                n += 1
    return n


def decode_rates(
    paths: list[Path], size: int, budget_s: float, *, scene: str | Path | None = None, workers: int = 4
) -> dict[str, Any]:
    """Decode ceilings, images/s (see the module docstring): ``exact_1thread``,
    ``exact_pool`` (``workers`` threads), ``draft_1thread``, ``draft_pool``, and
    ``geotiff_1thread`` (tiles/s of ``scene``; None without one)."""
    out: dict[str, Any] = {"workers": workers}
    for name, fn in (("exact", lambda p: decode_for_encoding(p, size)), ("draft", lambda p: draft_decode(p, size))):
        out[f"{name}_1thread"] = _rate(lambda fn=fn: [fn(p) for p in paths], len(paths), budget_s)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out[f"{name}_pool"] = _rate(lambda fn=fn: list(pool.map(fn, paths)), len(paths), budget_s)
    out["geotiff_1thread"] = None
    if scene is not None and Path(scene).exists():
        tiles = scene_tiles(scene, size)
        out["geotiff_tiles"] = tiles
        out["geotiff_1thread"] = _rate(lambda: scene_tiles(scene, size), tiles, budget_s) if tiles else None
    return out


def where_time_goes(row: dict[str, Any], decode: dict[str, Any], batch: int) -> dict[str, Any]:
    """Milliseconds per image at ``batch``: decode (one thread), the model, files -> codes
    sequential and overlapped; ``hidden``: the share of the decode time the overlap hid
    (``(seq - overlapped) / decode``, 1 = all of it); ``of_model``: overlapped / model rate."""

    def ms(rate):
        return 1000.0 / rate if rate else None

    d, m = ms(decode.get("exact_1thread")), ms(row.get(f"model_b{batch}"))
    seq, ovl = ms(row.get(f"sequential_b{batch}")), ms(row.get(f"end_to_end_b{batch}"))
    hidden = (seq - ovl) / d if None not in (d, seq, ovl) and d else None
    model_rate, e2e = row.get(f"model_b{batch}"), row.get(f"end_to_end_b{batch}")
    return {
        "decode_ms": d,
        "model_ms": m,
        "sequential_ms": seq,
        "overlapped_ms": ovl,
        "hidden": hidden,
        "of_model": e2e / model_rate if e2e and model_rate else None,
    }


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
            ray_row[f"model_b{b}"] = ray_row[f"sequential_b{b}"] = None
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
        for key, overlap in (("end_to_end", True), ("sequential", False)):
            row[f"{key}_b{b}"] = _rate(
                lambda subset=subset, b=b, overlap=overlap: encoder.encode_paths(
                    subset, batch_size=b, progress=False, overlap=overlap
                ),
                len(subset),
                budget_s,
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
    scene: str | Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Measure the decode ceiling, then every configuration in turn, on the first
    ``max_images`` images of the folder (``scene``: a GeoTIFF scene for the window decode)."""
    import torch  # noqa: PLC0415 (torch only on this path)

    load_start = load_average()
    paths = list_images(image_folder)[:max_images]
    size = load_encoder(run_dir, runtime="torch").image_size
    images = np.stack([rgb_to_uint8_array(read_rgb(p), size) for p in paths])
    log("measuring the decode alone ...")
    decode = decode_rates(paths, size, budget_s, scene=scene)
    if configs and configs[0].engine == "local":  # what draft mode would change in the codes
        first = load_encoder(run_dir, runtime=configs[0].runtime, precision=configs[0].precision)
        drafted = np.stack([draft_decode(p, size) for p in paths])
        equal = _codes(first, drafted) == _codes(first, images)
        decode["draft_bits_agree"] = float(equal.mean()) if equal.size else 1.0
        decode["draft_codes_identical"] = float(equal.all(axis=1).mean()) if len(equal) else 1.0
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
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "decode": decode,
        "rows": rows,
        "where_time_goes": [
            {"config": r["config"], **where_time_goes(r, decode, max(batch_sizes))}
            for r in rows
            if r.get("engine") == "local"
        ],
    }


def to_markdown(result: dict[str, Any]) -> str:
    """Table: one row per configuration, images/s and the ratio to the first row, and the
    codes' agreement with the first fp32 row."""
    sizes = result["batch_sizes"]
    keys = [f"end_to_end_b{b}" for b in sizes] + [f"sequential_b{b}" for b in sizes] + [f"model_b{b}" for b in sizes]
    heads = (
        [f"files->codes overlapped b{b}" for b in sizes]
        + [f"files->codes sequential b{b}" for b in sizes]
        + [f"model alone b{b}" for b in sizes]
    )
    lines = [
        f"Encoding throughput, images/s ({result['images']} images at {result['image_size']}x{result['image_size']}, "
        f"{result['torch_threads']} threads; x = ratio to the first row; bits / codes equal: "
        "against the first fp32 row)",
        "",
        *(
            [load_sentence(result["load_average_start"], result.get("load_average_end")) + ".", ""]
            if result.get("load_average_start")
            else []
        ),
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
    lines += decode_lines(result)
    return "\n".join(lines) + "\n"


def decode_lines(result: dict[str, Any]) -> list[str]:
    """The decode ceiling and the where-the-time-goes table, as Markdown lines."""
    d = result.get("decode") or {}
    if not d:
        return []

    def rate(v):
        return "-" if v is None else f"{v:.0f}"

    lines = [
        "",
        f"Decode alone, images/s (files -> uint8 {result['image_size']} px; 1 thread / {d['workers']}-thread pool): "
        f"exact (what encoding uses) {rate(d['exact_1thread'])} / {rate(d['exact_pool'])}; JPEG draft to the input "
        f"size {rate(d['draft_1thread'])} / {rate(d['draft_pool'])}"
        + (
            f" (codes: {d['draft_bits_agree'] * 100:.2f} % of bits, {d['draft_codes_identical'] * 100:.1f} % of codes "
            "equal to the exact decode's; not used)"
            if d.get("draft_bits_agree") is not None
            else ""
        )
        + (
            f"; GeoTIFF windows ({d.get('geotiff_tiles')} tiles of 256 px, RGB) {rate(d['geotiff_1thread'])} tiles/s"
            if d.get("geotiff_1thread")
            else ""
        ),
        "",
        f"Where the time goes, ms per image at batch {max(result['batch_sizes'])} (decode: 1 thread; hidden: share of "
        "the decode time the overlap hid; of model: overlapped / model alone)",
        "",
        "| config | decode | model | sequential | overlapped | hidden | of model |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def ms(v):
        return "-" if v is None else f"{v:.2f}"

    for w in result.get("where_time_goes", []):
        pct = {k: "-" if w[k] is None else f"{w[k] * 100:.0f} %" for k in ("hidden", "of_model")}
        lines.append(
            f"| {w['config']} | {ms(w['decode_ms'])} | {ms(w['model_ms'])} | {ms(w['sequential_ms'])} | "
            f"{ms(w['overlapped_ms'])} | {pct['hidden']} | {pct['of_model']} |"
        )
    return lines
