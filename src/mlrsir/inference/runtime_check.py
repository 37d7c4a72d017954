"""The export check: each export runtime's codes and speed against PyTorch, recorded beside the export.

``mlrsir export`` (unless ``--no-check``) encodes the same random images with PyTorch and
with every installed export runtime at fp32 (ONNX Runtime, OpenVINO), and writes into
``RUN/model.onnx.json`` under ``"runtime_check"``::

    {"images": 64, "onnx_sha256": "...", "runtimes": {"onnx": {"bits_agree": 1.0,
     "codes_identical": 1.0, "max_abs_h_disagreeing": 0.0, "images_per_s": 410.2}, ...}}

``--runtime auto`` (:func:`mlrsir.inference.runtimes.resolve_runtime`) then takes the fastest
runtime whose codes were all identical (:func:`mlrsir.inference.runtimes.fastest_exact_runtime`). The record is trusted
only for the ONNX file it was made on (same SHA-256).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlrsir.inference.encoder import load_encoder
from mlrsir.inference.fingerprint import file_sha256
from mlrsir.inference.onnx_export import onnx_paths
from mlrsir.inference.runtimes import EXPORT_RUNTIMES, runtime_available
from mlrsir.io_atomic import write_json_atomic


def agreement(reference: np.ndarray, other: np.ndarray) -> dict[str, float]:
    """Codes ``h > 0`` of two ``(N, D)`` outputs: share of equal bits, share of equal codes
    (all bits of a row), and the largest ``|reference|`` among the differing bits (0 if none)."""
    differ = (reference > 0) != (other > 0)
    return {
        "bits_agree": 1.0 - float(differ.mean()) if differ.size else 1.0,
        "codes_identical": float((~differ.any(axis=1)).mean()) if len(differ) else 1.0,
        "max_abs_h_disagreeing": float(np.abs(reference[differ]).max()) if differ.any() else 0.0,
    }


def check_runtimes(run_dir: str | Path, runtimes=None, n: int = 64, seed: int = 0, repeats: int = 2) -> dict:
    """Compare every installed export runtime (fp32) with PyTorch on ``n`` random images and
    record the result in the export's metadata (see the module docstring).

    Args:
        run_dir: a run with a current ``RUN/model.onnx``.
        runtimes: the runtimes to check (default: each of ``onnx``, ``openvino`` installed).
        repeats: timed passes per runtime after one warm-up (the best is kept).

    Returns:
        The ``"runtime_check"`` record.
    """
    chosen = list(runtimes) if runtimes else [r for r in EXPORT_RUNTIMES if runtime_available(r)]
    oracle = load_encoder(run_dir, runtime="torch")
    size = oracle.image_size
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    _, h_torch = oracle.encode_uint8(torch.from_numpy(images))
    results: dict[str, Any] = {}
    for runtime in chosen:
        encoder = load_encoder(run_dir, runtime=runtime)
        h, _ = encoder.onnx.run(images)  # warm-up, and the outputs compared
        best = float("inf")
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            encoder.onnx.run(images)
            best = min(best, time.perf_counter() - start)
        results[runtime] = {**agreement(h_torch, h), "images_per_s": n / best}
    onnx_file, meta_file = onnx_paths(run_dir)
    record = {"images": n, "seed": seed, "onnx_sha256": file_sha256(onnx_file), "runtimes": results}
    meta = json.loads(meta_file.read_text())
    meta["runtime_check"] = record
    write_json_atomic(meta_file, meta, indent=2)
    return record
