"""Running the ONNX export of a run with ONNX Runtime, and choosing the runtime.

:func:`resolve_runtime` is the one rule behind ``--runtime onnx|torch|auto``:

- ``torch``: always the PyTorch model (the oracle);
- ``onnx``: the export must be current (:func:`mlrsir.inference.onnx_export.export_problem`)
  and ``onnxruntime`` importable, else :class:`~mlrsir.errors.ConfigError` saying why;
- ``auto``: ONNX when both hold, else PyTorch (the reason is kept for messages).

:class:`OnnxModel` wraps one ``onnxruntime.InferenceSession``; a session may be run from
several threads at once (ONNX Runtime's ``run`` is thread-safe), so one is shared by all
requests of the web server.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mlrsir.errors import ConfigError

RUNTIMES = ("auto", "onnx", "torch")


def onnxruntime_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_runtime(runtime: str, run_dir: str | Path, config) -> tuple[str, str | None]:
    """``(chosen runtime "onnx" | "torch", why ONNX is not used or None)``.

    Raises:
        ConfigError: unknown runtime, or ``onnx`` requested but unusable.
    """
    from mlrsir.inference.onnx_export import export_problem

    runtime = (runtime or "auto").lower()
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    if runtime == "torch":
        return "torch", "PyTorch requested"
    problem = export_problem(run_dir, config)
    if problem is None and not onnxruntime_available():
        problem = "onnxruntime is not installed (pip install 'mlrsir[onnx]')"
    if problem is None:
        return "onnx", None
    if runtime == "onnx":
        raise ConfigError(problem)
    return "torch", problem


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
        options.intra_op_num_threads = int(threads or _default_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.path = Path(onnx_file)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.fixed_batch = int(fixed_batch) if fixed_batch else None

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``uint8 (B, 3, S, S)`` -> ``(h float32 (B, D), attention float32 (B, 1, P, P))``."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        n = images.shape[0]
        fb = self.fixed_batch
        if fb is None or n == fb:
            h, att = self.session.run(None, {"image": images})
            return h, att
        hs, atts = [], []
        for start in range(0, n, fb):
            part = images[start : start + fb]
            m = part.shape[0]
            if m < fb:
                part = np.concatenate([part, np.zeros((fb - m, *part.shape[1:]), np.uint8)])
            h, att = self.session.run(None, {"image": part})
            hs.append(h[:m])
            atts.append(att[:m])
        return np.concatenate(hs), np.concatenate(atts)


def _default_threads() -> int:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        return max(1, int(torch.get_num_threads()))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
