"""int8 post-training quantization of a run's export with NNCF, and its gates (``mlrsir export --int8``).

:func:`build_int8` quantizes ``RUN/model.onnx`` (read by OpenVINO) with
``nncf.quantize``:

- **calibration**: ``calibration_images`` (default 300) images drawn with ``seed`` from the
  run's *training* part (``protocol_indices(split, eval_split)[0]``: train + val for a
  ``--eval-split test`` run, train only for a ``val`` run), un-augmented, exactly as encoded
  (uint8, resized like training). Query images are never used;
- **per-channel** symmetric int8 weights (set explicitly), per-tensor activations (NNCF's
  ``performance`` preset);
- the **hash head** (``fc1``, ``fc2``: the layers whose sign is the code) kept in fp32 by
  default (``keep_head_fp32``; ``--int8-head int8`` quantizes it too). The head is a small
  share of the work and its output is what is thresholded; see ``docs/runtimes.md`` for the
  measured bits of both.

The IR is written to ``RUN/model.int8.xml/.bin`` (atomically: temporary names, then renamed)
and recorded in ``RUN/model.int8.json`` (:mod:`mlrsir.inference.int8_files`) with the
**gates**, computed on every image of the run's dataset, int8 against fp32 (OpenVINO, the
same export; fp32 equals PyTorch up to rounding by the export check):

- ``bits_agree``: share of equal code bits; ``codes_identical``: share of equal codes;
- ``map_fp32``, ``map_int8``, ``map_change``: tie-aware mAP@all of the run's protocol (the
  ``eval_split`` queries against the training database, as ``mlrsir train`` reports it) with
  each model's codes. A report, not a choice: nothing is chosen or tuned on it;
- ``images_per_s`` of each model on those images (batch 64, model alone).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.codes import binarize
from mlrsir.data.cache import load_image_array
from mlrsir.data.registry import load_dataset
from mlrsir.data.splits import load_split, protocol_indices
from mlrsir.errors import ConfigError
from mlrsir.inference.encoder import load_encoder
from mlrsir.inference.fingerprint import file_sha256
from mlrsir.inference.int8_files import int8_paths
from mlrsir.inference.onnx_export import export_problem, onnx_paths
from mlrsir.inference.openvino_runtime import OpenVinoModel
from mlrsir.inference.runtime_check import agreement
from mlrsir.io_atomic import write_json_atomic
from mlrsir.metrics.protocol import evaluate_method
from mlrsir.run.config import run_dataset_root

HEAD_SCOPE = ".*/hash_head/.*"
"""NNCF ignored-scope pattern of the hash head's layers in the exported graph."""


def quantize_onnx_int8(
    onnx_file: str | Path, calibration: np.ndarray, out_xml: str | Path, keep_head_fp32: bool = True
) -> None:
    """Quantize ``onnx_file`` on ``calibration`` (``uint8 (N, 3, S, S)``) and save the IR to ``out_xml``."""
    import nncf  # noqa: PLC0415 (optional: the openvino extra)
    import openvino as ov  # noqa: PLC0415 (optional: the openvino extra)
    from nncf.quantization.advanced_parameters import (  # noqa: PLC0415 (optional, as above)
        AdvancedQuantizationParameters,
        QuantizationParameters,
    )

    nncf.set_log_level(logging.WARNING)  # its INFO lines list every unquantized node
    model = ov.Core().read_model(str(onnx_file))
    items = [calibration[i : i + 1] for i in range(len(calibration))]
    dataset = nncf.Dataset(items, lambda x: {"image": x})
    quantized = nncf.quantize(
        model,
        dataset,
        preset=nncf.QuantizationPreset.PERFORMANCE,
        subset_size=len(items),
        ignored_scope=nncf.IgnoredScope(patterns=[HEAD_SCOPE], validate=False) if keep_head_fp32 else None,
        advanced_parameters=AdvancedQuantizationParameters(
            weights_quantization_params=QuantizationParameters(per_channel=True)
        ),
    )
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)


def _outputs(model: OpenVinoModel, images: np.ndarray, batch: int = 64) -> tuple[np.ndarray, float]:
    """Head outputs ``(N, D)`` of ``images`` and the images/s of the pass."""
    model.run(images[:batch])  # warm-up
    start = time.perf_counter()
    parts = [model.run(images[i : i + batch])[0] for i in range(0, len(images), batch)]
    seconds = time.perf_counter() - start
    return np.concatenate(parts), len(images) / max(seconds, 1e-9)


def build_int8(
    run_dir: str | Path,
    root: str | None = None,
    calibration_images: int = 300,
    keep_head_fp32: bool = True,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Quantize the run's current export, write the IR and its record, return the record (module doc).

    Raises:
        ConfigError: no current export, a multispectral or quantizer (non-Hamming) run, no
            split file, or ``calibration_images < 1``.
    """
    if calibration_images < 1:
        raise ConfigError(f"--calibration-images must be >= 1, got {calibration_images}")
    encoder = load_encoder(run_dir, runtime="torch")  # config, method, split path
    config, paths = encoder.config, encoder.paths
    problem = export_problem(run_dir, config)
    if problem is not None:
        raise ConfigError(problem)
    if encoder.inputs.multispectral or encoder.retrieval != "hamming":
        raise ConfigError(f"{paths.root}: --int8 covers 8-bit RGB hashing runs only")
    dataset = load_dataset(config.dataset, run_dataset_root(config, root, run_dir=run_dir))
    split = load_split(paths.split, dataset)
    train_idx, query_idx, db_idx = protocol_indices(split, config.eval_split)
    images = load_image_array(dataset, config.image_size, progress=progress)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(train_idx, size=min(calibration_images, len(train_idx)), replace=False))

    onnx_file = onnx_paths(run_dir)[0]
    xml, bin_, meta = int8_paths(run_dir)
    tmp_xml = xml.with_name(f".{xml.stem}.{os.getpid()}.tmp.xml")
    tmp_bin = tmp_xml.with_suffix(".bin")
    try:
        quantize_onnx_int8(onnx_file, images[chosen], tmp_xml, keep_head_fp32=keep_head_fp32)
        int8_model = OpenVinoModel(tmp_xml, precision="int8")
        h8, rate8 = _outputs(int8_model, images)
        del int8_model
        os.replace(tmp_bin, bin_)
        os.replace(tmp_xml, xml)
    finally:
        for leftover in (tmp_xml, tmp_bin):
            leftover.unlink(missing_ok=True)
    h32, rate32 = _outputs(OpenVinoModel(onnx_file, precision="fp32"), images)
    labels = np.asarray(dataset.labels)

    def protocol_map(h: np.ndarray) -> float:
        found = evaluate_method(
            encoder.method, h[query_idx], None, labels[query_idx], labels[db_idx], db_repr=binarize(h[db_idx])
        )
        return float(found["map"])

    map32, map8 = protocol_map(h32), protocol_map(h8)
    record: dict[str, Any] = {
        "onnx_sha256": file_sha256(onnx_file),
        "xml_sha256": file_sha256(xml),
        "bin_sha256": file_sha256(bin_),
        "calibration": {"part": "train", "images": int(len(chosen)), "seed": int(seed)},
        "weights": "int8 symmetric per-channel",
        "activations": "int8 per-tensor",
        "hash_head": "fp32" if keep_head_fp32 else "int8",
        "gates": {
            "images": int(len(images)),
            **agreement(h32, h8),
            "eval_split": config.eval_split,
            "queries": int(len(query_idx)),
            "map_fp32": map32,
            "map_int8": map8,
            "map_change": map8 - map32,
            "images_per_s": {"fp32": rate32, "int8": rate8},
        },
    }
    write_json_atomic(meta, record, indent=2)
    return record


def gate_lines(record: dict[str, Any]) -> list[str]:
    """The printed gates of a :func:`build_int8` record."""
    g = record["gates"]
    return [
        f"int8: calibrated on {record['calibration']['images']} training images; weights per-channel, "
        f"hash head {record['hash_head']}",
        f"int8 gate: {g['bits_agree'] * 100:.2f} % of code bits and {g['codes_identical'] * 100:.1f} % of codes "
        f"equal fp32's on the run's {g['images']} images",
        f"int8 gate: {g['eval_split']} mAP {g['map_int8']:.4f} against {g['map_fp32']:.4f} at fp32 "
        f"(change {g['map_change']:+.4f}, {g['queries']} queries; reported, not tuned on)",
        f"int8 gate: {g['images_per_s']['int8']:.0f} images/s against {g['images_per_s']['fp32']:.0f} at fp32 "
        "(model alone, batch 64)",
    ]
