"""``mlrsir bench encode``: one row per runtime and precision, with the codes' agreement
against the first fp32 row."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.bench.encode import add_agreement, precisions_to_measure
from mlrsir.errors import ConfigError
from tests.fixtures.make_images import write_random_pngs


def test_each_runtime_is_measured_at_every_precision_it_runs():
    assert precisions_to_measure("openvino") == ["fp32", "bf16"]
    assert precisions_to_measure("onnx") == ["fp32"]
    assert precisions_to_measure("auto") == ["fp32"]
    assert precisions_to_measure("openvino", ["bf16"]) == ["bf16"]
    assert precisions_to_measure("auto", ["bf16"]) == ["bf16"]
    with pytest.raises(ConfigError, match="--precision bf16: --runtime torch runs fp32 only"):
        precisions_to_measure("torch", ["bf16"])


def test_agreement_is_against_the_first_fp32_row():
    ref = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], np.uint8)
    one_bit = np.array([[1, 0, 1, 0], [0, 1, 1, 1]], np.uint8)  # 1 of 8 bits, 1 of 2 codes differ
    rows = [{"precision": "bf16"}, {"precision": "fp32"}, {"precision": "fp32"}, {"precision": "bf16"}, {}]
    add_agreement(rows, [one_bit, ref, ref.copy(), one_bit, None])
    assert [(r["bits_agree"], r["codes_identical"]) for r in rows] == [
        (7 / 8, 0.5),
        (1.0, 1.0),
        (1.0, 1.0),
        (7 / 8, 0.5),
        (None, None),  # a row without codes (Ray)
    ]


def test_bench_encode_rows_name_runtime_and_precision(tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mlrsir[onnx]')")
    pytest.importorskip("onnx", reason="onnx not installed (pip install 'mlrsir[onnx]')")
    pytest.importorskip("openvino", reason="openvino not installed (pip install 'mlrsir[openvino]')")

    from mlrsir.cli.main import main
    from mlrsir.inference.onnx_export import export_onnx
    from tests.inference.test_onnx import make_random_run

    run = make_random_run(tmp_path / "run")
    export_onnx(run, log=lambda _m: None)
    images = write_random_pngs(tmp_path / "images", 8)
    argv = ["bench", "encode", "--run", str(run), "--images", str(images), "--batch-size", "4", "--budget", "0.01"]
    assert main([*argv, "--runtime", "onnx", "--runtime", "openvino", "--precision", "fp32", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = result["rows"]
    assert [(r["runtime"], r["precision"]) for r in rows] == [("onnx", "fp32"), ("openvino", "fp32")]
    # decode alone, sequential and overlapped files -> codes, and where the time goes, in the same run
    assert result["decode"]["exact_1thread"] > 0 and result["decode"]["draft_pool"] > 0
    assert result["decode"]["draft_bits_agree"] == 1.0  # PNG files: draft mode does not apply
    assert all(r["sequential_b4"] > 0 and r["end_to_end_b4"] > 0 for r in rows)
    assert [w["config"] for w in result["where_time_goes"]] == [r["config"] for r in rows]
    assert all(w["model_ms"] > 0 and w["decode_ms"] > 0 for w in result["where_time_goes"])
    assert [(r["bits_agree"], r["codes_identical"]) for r in rows] == [(1.0, 1.0), (1.0, 1.0)]
    assert all(r["model_b4"] > 0 and r["end_to_end_b4"] > 0 for r in rows)
