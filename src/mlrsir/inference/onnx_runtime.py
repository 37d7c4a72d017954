"""Running the ONNX export of a run with ONNX Runtime.

The runtime is chosen by :func:`mlrsir.inference.runtimes.resolve_runtime` (``--runtime``).
:class:`OnnxModel` wraps one ``onnxruntime.InferenceSession``; a session may be run from
several threads at once (ONNX Runtime's ``run`` is thread-safe), so one is shared by all
requests of the web server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np


class OnnxModel:
    """An ONNX Runtime session of ``model.onnx``: ``run(uint8 (B,3,S,S)) -> (h, attention)``.

    Args:
        onnx_file: the exported graph.
        threads: intra-op threads (default: ``torch.get_num_threads()`` when torch is loaded,
            else the CPU count).
        fixed_batch: the export's fixed batch size (inputs are padded / split to it).
    """

    def __init__(self, onnx_file: str | Path, threads: int | None = None, fixed_batch: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or default_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.path = Path(onnx_file)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.fixed_batch = int(fixed_batch) if fixed_batch else None

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``uint8 (B, 3, S, S)`` -> ``(h float32 (B, D), attention float32 (B, 1, P, P))``."""
        return run_in_batches(lambda part: tuple(self.session.run(None, {"image": part})), images, self.fixed_batch)


def run_in_batches(run_one, images: np.ndarray, fixed_batch: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``run_one(uint8 batch) -> (h, attention)`` over ``images``, padded and split to a fixed batch.

    With ``fixed_batch`` None (dynamic batch axis) or equal to ``len(images)`` one call; else
    the images go in slices of ``fixed_batch``, the last one padded with zero images whose
    outputs are dropped.
    """
    images = np.ascontiguousarray(images, dtype=np.uint8)
    n = images.shape[0]
    fb = fixed_batch
    if fb is None or n == fb:
        h, att = run_one(images)
        return h, att
    hs, atts = [], []
    for start in range(0, n, fb):
        part = images[start : start + fb]
        m = part.shape[0]
        if m < fb:
            part = np.concatenate([part, np.zeros((fb - m, *part.shape[1:]), np.uint8)])
        h, att = run_one(part)
        hs.append(h[:m])
        atts.append(att[:m])
    return np.concatenate(hs), np.concatenate(atts)


def default_threads() -> int:
    """``torch.get_num_threads()`` when torch is loaded, else the CPUs this process may use."""

    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
