"""``--runtime`` and ``--precision``: the one definition used by ``encode``, ``index build|add``,
``search``, ``serve`` and ``bench`` (choices from :mod:`mlrsir.inference.runtimes`)."""

from __future__ import annotations

from mlrsir.inference.runtimes import PRECISIONS, RUNTIMES

RUNTIME_HELP = (
    "onnx (ONNX Runtime) or openvino (OpenVINO) on RUN/model.onnx from `mlrsir export`, torch, or auto "
    "(default: the fastest export runtime whose codes equalled PyTorch's at export, else onnx, when current)"
)
PRECISION_HELP = (
    "fp32 (default, exact), bf16 or int8 (--runtime openvino only; a few bits per code change; "
    "int8 needs `mlrsir export --int8`)"
)


def add_runtime_arguments(parser) -> None:
    """``--runtime {auto,onnx,openvino,torch}`` (default auto) and ``--precision {fp32,bf16,int8}`` (default fp32)."""
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto", help=RUNTIME_HELP)
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help=PRECISION_HELP)
