"""Running the ONNX export of a run (``RUN/model.onnx``) with OpenVINO on the CPU.

:class:`OpenVinoModel` has :class:`mlrsir.inference.onnx_runtime.OnnxModel`'s interface
(``run(uint8 (B, 3, S, S)) -> (h, attention)``). The graph is read from the same file; no
OpenVINO IR is written. Precision (``--precision``):

- ``fp32``: ``INFERENCE_PRECISION_HINT = f32``; codes equal ONNX Runtime's and PyTorch's up
  to float rounding;
- ``bf16``: ``INFERENCE_PRECISION_HINT = bf16`` (weights and activations in bfloat16, 8-bit
  mantissa, on CPUs with AVX-512 BF16 or AMX); a few bits per code differ from fp32
  (measure with ``mlrsir bench encode --runtime onnx --runtime openvino``). Refused when the
  CPU plugin cannot run bf16;
- ``int8``: the file given is the NNCF-quantized IR of ``mlrsir export --int8``
  (``RUN/model.int8.xml``, :mod:`mlrsir.inference.int8_quantize`): int8 convolutions and
  matrix products (VNNI / AMX-INT8 kernels), everything left unquantized (the hash head by
  default) at ``f32``.

One compiled model is shared; each thread gets its own infer request (a request is not
thread-safe), so one model may serve several requests at once. ``openvino`` is imported
when a model is built, never at module level (an optional package).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from mlrsir.errors import ConfigError
from mlrsir.inference.onnx_runtime import default_threads, run_in_batches
from mlrsir.inference.runtimes import check_precision

HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}
"""``--precision`` -> OpenVINO's ``INFERENCE_PRECISION_HINT`` value."""


class OpenVinoModel:
    """An OpenVINO CPU model of ``model.onnx``: ``run(uint8 (B,3,S,S)) -> (h, attention)``.

    Args:
        onnx_file: the exported graph (``model.onnx``; with ``int8``, ``model.int8.xml``).
        precision: ``"fp32"``, ``"bf16"`` or ``"int8"`` (see the module docstring).
        threads: inference threads (default: ``torch.get_num_threads()`` when torch is
            loaded, else the CPU count).
        fixed_batch: the export's fixed batch size (inputs are padded / split to it).

    Raises:
        ConfigError: unknown precision, or bf16 asked on a CPU without bf16 support.
    """

    def __init__(
        self,
        onnx_file: str | Path,
        precision: str = "fp32",
        threads: int | None = None,
        fixed_batch: int | None = None,
    ):
        import openvino as ov  # noqa: PLC0415 (openvino is optional)

        self.precision = check_precision(precision)
        core = ov.Core()
        if self.precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            raise ConfigError("--precision bf16: this CPU has no bf16 support in OpenVINO (AVX-512 BF16 or AMX)")
        self.path = Path(onnx_file)
        config = {
            "INFERENCE_PRECISION_HINT": HINTS[self.precision],
            "INFERENCE_NUM_THREADS": int(threads or default_threads()),
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        }
        self.compiled = core.compile_model(core.read_model(str(self.path)), "CPU", config)
        self.fixed_batch = int(fixed_batch) if fixed_batch else None
        self._h = self.compiled.output("h")
        self._attention = self.compiled.output("attention")
        self._local = threading.local()

    def _run_one(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        result = request.infer({"image": part})
        # the request reuses its output buffers on the next call: copy
        return np.array(result[self._h], np.float32), np.array(result[self._attention], np.float32)

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``uint8 (B, 3, S, S)`` -> ``(h float32 (B, D), attention float32 (B, 1, P, P))``."""
        return run_in_batches(self._run_one, images, self.fixed_batch)
