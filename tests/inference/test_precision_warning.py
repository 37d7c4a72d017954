"""An index records the runtime and precision of its codes; an encoder at another precision
is warned about (naming both), never refused."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mlrsir.inference.fingerprint import check_encoder_compatible, precision_warning
from tests.fixtures.make_images import write_random_pngs

FINGERPRINT = {"bits": 16, "backbone": "b", "method": "mlrsir", "image_size": 64, "weights_sha256": "ab"}


def _encoder(runtime: str, precision: str):
    return SimpleNamespace(
        bits=16, fingerprint=dict(FINGERPRINT), run_dir="RUN", retrieval="hamming", runtime=runtime, precision=precision
    )


def _index(**encoding):
    return SimpleNamespace(bits=16, fingerprint={**FINGERPRINT, **encoding}, db_path="IX/index.sqlite")


def test_other_precision_warns_naming_both():
    said: list[str] = []
    check_encoder_compatible(_encoder("onnx", "fp32"), _index(runtime="openvino", precision="bf16"), warn=said.append)
    assert said == [
        "IX/index.sqlite: the index's codes were made at bf16 (openvino runtime) but this encoder runs at fp32 "
        "(onnx runtime); a few bits per code differ, so distances and ranks shift (use --precision bf16 for "
        "exact results)"
    ]


@pytest.mark.parametrize(
    ("stored", "encoder"),
    [
        ({"runtime": "onnx", "precision": "fp32"}, _encoder("openvino", "fp32")),  # fp32 runtimes agree
        ({}, _encoder("openvino", "bf16")),  # an index from before the record: nothing to compare
        ({"runtime": "openvino", "precision": "bf16"}, _encoder("openvino", "bf16")),
    ],
)
def test_same_or_unknown_precision_does_not_warn(stored, encoder):
    said: list[str] = []
    check_encoder_compatible(encoder, _index(**stored), warn=said.append)
    assert said == []
    assert precision_warning(_index(**stored).fingerprint, encoder) is None


def test_index_built_at_bf16_records_it_and_search_at_fp32_warns(tmp_path, capsys):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mlrsir[onnx]')")
    pytest.importorskip("onnx", reason="onnx not installed (pip install 'mlrsir[onnx]')")
    ov = pytest.importorskip("openvino", reason="openvino not installed (pip install 'mlrsir[openvino]')")
    if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        pytest.skip("this CPU has no bf16 support in OpenVINO")
    from mlrsir.cli.main import main
    from mlrsir.index.store import CodeIndex
    from mlrsir.inference.onnx_export import export_onnx
    from tests.inference.test_onnx import make_random_run

    run = make_random_run(tmp_path / "run")
    export_onnx(run, log=lambda _m: None)
    images = write_random_pngs(tmp_path / "images", 4)
    ix = tmp_path / "ix"
    build = ["index", "build", "--run", str(run), "--images", str(images), "--index", str(ix), "--quiet"]
    assert main([*build, "--runtime", "openvino", "--precision", "bf16"]) == 0
    with CodeIndex.open(ix, readonly=True) as index:
        assert (index.fingerprint["runtime"], index.fingerprint["precision"]) == ("openvino", "bf16")
    capsys.readouterr()
    query = ["search", "--index", str(ix), "--query", str(images / "0.png"), "--k", "2", "--json"]
    assert main([*query, "--runtime", "onnx"]) == 0
    err = capsys.readouterr().err
    assert "mlrsir: warning:" in err and "made at bf16 (openvino runtime)" in err and "runs at fp32 (onnx" in err
    assert main([*query, "--runtime", "openvino", "--precision", "bf16"]) == 0
    assert "warning" not in capsys.readouterr().err
