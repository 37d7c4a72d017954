"""The inference runtimes and precisions, and the one rule choosing them (``--runtime``, ``--precision``).

Runtimes: ``torch`` (the BatchNorm-folded PyTorch model, the oracle), ``onnx`` (``RUN/model.onnx``
with ONNX Runtime, :mod:`mlrsir.inference.onnx_runtime`), ``openvino`` (the same file with
OpenVINO, :mod:`mlrsir.inference.openvino_runtime`) and ``auto``. Precisions: ``fp32`` (every
runtime; codes equal PyTorch's up to float rounding), ``bf16`` (``openvino`` only: the CPU
plugin's ``INFERENCE_PRECISION_HINT``; codes differ from fp32 in a few bits) and ``int8``
(``openvino`` only: the NNCF-quantized ``RUN/model.int8.xml`` of ``mlrsir export --int8``,
:mod:`mlrsir.inference.int8_files`; codes differ from fp32 in a few bits).

:func:`resolve_runtime` rules:

- ``torch``: always the PyTorch model;
- ``onnx`` / ``openvino``: the export must be current
  (:func:`mlrsir.inference.onnx_export.export_problem`) and the package importable, else
  :class:`~mlrsir.errors.ConfigError` saying why;
- ``auto`` with ``fp32``: the fastest runtime whose codes were identical to PyTorch's in the
  check ``mlrsir export`` records (:mod:`mlrsir.inference.runtime_check`, read by
  :func:`fastest_exact_runtime`); with no such
  record, ONNX Runtime, else OpenVINO, when importable; PyTorch when the export is not
  current or neither package is installed (the reason is kept for messages);
- ``auto`` with ``bf16`` or ``int8``: ``openvino`` (refused as above when unusable; ``int8``
  also when the run has no current int8 model, :func:`mlrsir.inference.int8_files.int8_problem`).

This module imports neither numpy nor torch (the CLI reads its choices while building parsers).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from mlrsir.errors import ConfigError
from mlrsir.inference.int8_files import int8_problem
from mlrsir.inference.onnx_export import export_problem, onnx_paths

RUNTIMES = ("auto", "onnx", "openvino", "torch")
"""Values of ``--runtime``."""

PRECISIONS = ("fp32", "bf16", "int8")
"""Values of ``--precision``."""

RUNTIME_PRECISIONS = {"torch": ("fp32",), "onnx": ("fp32",), "openvino": ("fp32", "bf16", "int8")}
"""The precisions each concrete runtime runs."""

EXPORT_RUNTIMES = ("onnx", "openvino")
"""Runtimes that run ``RUN/model.onnx``, in the order ``auto`` prefers them without a check record."""

_PACKAGES = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "openvino")}  # module, extra


def runtime_available(runtime: str) -> bool:
    """Whether the package of an export runtime can be imported (without importing it)."""
    module = _PACKAGES[runtime][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_precision(precision: str | None) -> str:
    """The lower-cased precision, or :class:`ConfigError` naming ``--precision`` and the choices."""
    value = (precision or "fp32").lower()
    if value not in PRECISIONS:
        raise ConfigError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return value


def _missing(runtime: str) -> str:
    module, extra = _PACKAGES[runtime]
    return f"{module} is not installed (pip install 'mlrsir[{extra}]')"


def resolve_runtime(runtime: str, run_dir: str | Path, config, precision: str = "fp32") -> tuple[str, str | None]:
    """``(chosen runtime "onnx" | "openvino" | "torch", why no export runtime is used or None)``.

    Raises:
        ConfigError: unknown runtime or precision, a precision the runtime does not run, or
            ``onnx`` / ``openvino`` (or ``bf16`` / ``int8``) requested but unusable.
    """
    runtime = (runtime or "auto").lower()
    if runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    precision = check_precision(precision)
    if runtime == "auto" and precision != "fp32":
        runtime = "openvino"
    if runtime != "auto" and precision not in RUNTIME_PRECISIONS[runtime]:
        raise ConfigError(
            f"--precision {precision}: --runtime {runtime} runs {', '.join(RUNTIME_PRECISIONS[runtime])} only "
            f"(bf16 and int8 need --runtime openvino)"
        )
    if runtime == "torch":
        return "torch", "PyTorch requested"
    problem = export_problem(run_dir, config)
    if runtime in EXPORT_RUNTIMES:
        problem = problem or (None if runtime_available(runtime) else _missing(runtime))
        if problem is None and precision == "int8":
            problem = int8_problem(run_dir)
        if problem is not None:
            raise ConfigError(problem)
        return runtime, None
    if problem is not None:
        return "torch", problem
    usable = [r for r in EXPORT_RUNTIMES if runtime_available(r)]
    if not usable:
        return "torch", f"{_missing('onnx')}; or {_missing('openvino')}"
    return fastest_exact_runtime(run_dir, usable) or usable[0], None


def fastest_exact_runtime(run_dir: str | Path, usable) -> str | None:
    """The fastest of ``usable`` whose codes were identical to PyTorch's in the recorded check
    (None: no record for the current ONNX file, or no runtime was exact).

    Call it on a current export only (:func:`mlrsir.inference.onnx_export.export_problem` None).
    """
    _, meta_file = onnx_paths(run_dir)
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError):
        return None
    record = meta.get("runtime_check") or {}
    # the export's own checksum was verified against the file (export_problem) before this is asked
    if not record or record.get("onnx_sha256") != meta.get("onnx_sha256"):
        return None
    rows = record.get("runtimes") or {}
    exact = [r for r in usable if (rows.get(r) or {}).get("codes_identical") == 1.0]
    return max(exact, key=lambda r: rows[r].get("images_per_s") or 0.0) if exact else None
