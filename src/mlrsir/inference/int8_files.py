"""Where the int8 model of a run lives, and whether it is current (``--precision int8``).

``mlrsir export --run RUN --int8`` (:mod:`mlrsir.inference.int8_quantize`) writes an OpenVINO
IR quantized from ``RUN/model.onnx``: ``RUN/model.int8.xml`` + ``RUN/model.int8.bin``, and
``RUN/model.int8.json`` with the SHA-256 of the ONNX file it was made from, of both IR files,
the calibration set and the gates. :func:`int8_problem` accepts the IR only while all three
checksums still match, so an int8 model left beside a new export (or a retrained run, which
makes the export stale first) is never run.

This module imports neither numpy, torch nor openvino.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlrsir.inference.fingerprint import file_sha256
from mlrsir.inference.onnx_export import onnx_paths

INT8_XML = "model.int8.xml"
INT8_BIN = "model.int8.bin"
INT8_META = "model.int8.json"


def int8_paths(run_dir: str | Path) -> tuple[Path, Path, Path]:
    """``(RUN/model.int8.xml, RUN/model.int8.bin, RUN/model.int8.json)``."""
    root = Path(run_dir)
    return root / INT8_XML, root / INT8_BIN, root / INT8_META


def read_int8_record(run_dir: str | Path) -> dict | None:
    """The ``model.int8.json`` record (None when missing or unreadable)."""
    try:
        data = json.loads(int8_paths(run_dir)[2].read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def int8_problem(run_dir: str | Path) -> str | None:
    """Why the run's int8 model cannot be used (None: it is current).

    Call it on a current export (:func:`mlrsir.inference.onnx_export.export_problem` None).
    """
    xml, bin_, meta = int8_paths(run_dir)
    build = f"build it with `mlrsir export --run {Path(run_dir)} --int8`"
    record = read_int8_record(run_dir)
    if record is None or not xml.is_file() or not bin_.is_file():
        missing = meta if record is None else (xml if not xml.is_file() else bin_)
        return f"{missing}: no int8 model for --precision int8 ({build})"
    onnx_file = onnx_paths(run_dir)[0]
    if not onnx_file.is_file() or record.get("onnx_sha256") != file_sha256(onnx_file):
        return f"{xml}: the int8 model was quantized from another {onnx_file.name} (stale); {build}"
    if record.get("xml_sha256") != file_sha256(xml) or record.get("bin_sha256") != file_sha256(bin_):
        return f"{xml}: the int8 model's files do not match {meta.name} (changed or partly written); {build}"
    return None
