"""OpenVINO runtime on the ONNX export: fp32 codes equal ONNX Runtime's, bf16 close, the
precision and runtime choice rules, and the export check ``--runtime auto`` reads.

A random-weights MLRSIR-NET at 64x64 (the run of ``test_onnx``), exported once per module.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'mlrsir[onnx]')")
pytest.importorskip("onnx", reason="onnx not installed (pip install 'mlrsir[onnx]')")
pytest.importorskip("openvino", reason="openvino not installed (pip install 'mlrsir[openvino]')")

from mlrsir.errors import ConfigError, MlrsirError  # noqa: E402
from mlrsir.inference.encoder import load_encoder  # noqa: E402
from mlrsir.inference.onnx_export import export_onnx, onnx_paths  # noqa: E402
from mlrsir.inference.runtime_check import agreement, check_runtimes  # noqa: E402
from tests.inference.test_onnx import make_random_run  # noqa: E402


def _has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = make_random_run(tmp_path_factory.mktemp("openvino") / "run")
    export_onnx(run, log=lambda _m: None)
    return run


def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, size=(n, 3, 64, 64), dtype=np.uint8))


def test_openvino_fp32_codes_equal_onnxruntime(tiny_run):
    ort_enc = load_encoder(tiny_run, runtime="onnx")
    ov_enc = load_encoder(tiny_run, runtime="openvino")
    assert (ov_enc.runtime, ov_enc.precision) == ("openvino", "fp32")
    assert ov_enc.encoding == {"runtime": "openvino", "precision": "fp32"}
    batch = _images(32)
    c_o, h_o = ort_enc.encode_uint8(batch)
    c_v, h_v = ov_enc.encode_uint8(batch)
    assert np.array_equal(c_o, c_v)
    assert np.abs(h_o - h_v).max() < 1e-4
    _, att_o = ort_enc.onnx.run(batch.numpy())
    _, att_v = ov_enc.onnx.run(batch.numpy())
    assert att_v.shape == att_o.shape and np.abs(att_o - att_v).max() < 1e-4


def test_openvino_bf16_bits_mostly_agree(tiny_run, record_property):
    if not _has_bf16():
        pytest.skip("this CPU has no bf16 support in OpenVINO (AVX-512 BF16 or AMX)")
    batch = _images(64, seed=1)
    _, h32 = load_encoder(tiny_run, runtime="openvino").encode_uint8(batch)
    bf16 = load_encoder(tiny_run, runtime="openvino", precision="bf16")
    assert (bf16.runtime, bf16.precision) == ("openvino", "bf16")
    _, h16 = bf16.encode_uint8(batch)
    assert not np.array_equal(h16, h32)  # really a reduced precision: outputs move
    found = agreement(h32, h16)
    record_property("bf16_bits_agree", found["bits_agree"])
    bits, codes = found["bits_agree"] * 100, found["codes_identical"] * 100
    print(f"bf16 vs fp32 on 64 images: {bits:.2f} % bits, {codes:.1f} % codes equal")
    assert found["bits_agree"] >= 0.95


def test_auto_with_bf16_chooses_openvino(tiny_run):
    if not _has_bf16():
        pytest.skip("this CPU has no bf16 support in OpenVINO")
    assert load_encoder(tiny_run, precision="bf16").encoding == {"runtime": "openvino", "precision": "bf16"}


@pytest.mark.parametrize(
    ("runtime", "precision", "match"),
    [
        ("openvino", "fp16", "--precision 'fp16': choose one of fp32, bf16, int8"),
        ("auto", "int4", "--precision 'int4'"),
        ("onnx", "bf16", "--runtime onnx runs fp32 only"),
        ("torch", "bf16", "--runtime torch runs fp32 only"),
    ],
)
def test_precision_a_runtime_does_not_run_is_refused(tiny_run, runtime, precision, match):
    with pytest.raises(MlrsirError, match=match):
        load_encoder(tiny_run, runtime=runtime, precision=precision)


def test_openvino_fixed_batch_export_pads_and_splits(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    export_onnx(run, fixed_batch=8, log=lambda _m: None)
    batch = _images(13, seed=2)
    _, h_v = load_encoder(run, runtime="openvino").encode_uint8(batch)
    _, h_t = load_encoder(run, runtime="torch").encode_uint8(batch)
    assert h_v.shape == h_t.shape == (13, 16) and np.abs(h_t - h_v).max() < 1e-4


def test_openvino_without_export_is_refused(tmp_path):
    run = make_random_run(tmp_path / "bare")
    with pytest.raises(ConfigError, match="no ONNX export"):
        load_encoder(run, runtime="openvino")


def _write_check(run, rows: dict, sha: str | None = None) -> None:
    _, meta_file = onnx_paths(run)
    meta = json.loads(meta_file.read_text())
    meta["runtime_check"] = {"images": 64, "onnx_sha256": sha or meta["onnx_sha256"], "runtimes": rows}
    meta_file.write_text(json.dumps(meta))


def test_auto_takes_the_fastest_runtime_whose_check_codes_were_identical(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert load_encoder(run).runtime == "onnx"  # no check recorded: as before, ONNX Runtime
    exact_fast = {"onnx": {"codes_identical": 1.0, "images_per_s": 300.0}}
    exact_fast["openvino"] = {"codes_identical": 1.0, "images_per_s": 400.0}
    _write_check(run, exact_fast)
    assert load_encoder(run).runtime == "openvino"
    _write_check(run, {**exact_fast, "openvino": {"codes_identical": 63 / 64, "images_per_s": 900.0}})
    assert load_encoder(run).runtime == "onnx"  # faster but one code of 64 differed
    _write_check(run, exact_fast, sha="0" * 64)  # a record made on another file is not trusted
    assert load_encoder(run).runtime == "onnx"
    _write_check(run, {"onnx": {"codes_identical": 0.5, "images_per_s": 1.0}})
    assert load_encoder(run).runtime == "onnx"  # none exact: the default order


def test_check_runtimes_records_both_runtimes(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    record = check_runtimes(run, n=8, repeats=1)
    assert set(record["runtimes"]) == {"onnx", "openvino"}
    for row in record["runtimes"].values():
        assert row["bits_agree"] == 1.0 and row["codes_identical"] == 1.0 and row["images_per_s"] > 0
    stored = json.loads(onnx_paths(run)[1].read_text())["runtime_check"]
    assert stored["runtimes"].keys() == record["runtimes"].keys() and stored["onnx_sha256"] == record["onnx_sha256"]
    assert load_encoder(run).runtime in ("onnx", "openvino")


def test_export_command_prints_and_records_the_check(tiny_run, tmp_path, capsys):
    from mlrsir.cli.main import main

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for name in ("model.onnx", "model.onnx.json"):
        (run / name).unlink()
    assert main(["export", "--run", str(run), "--format", "onnx"]) == 0
    out = capsys.readouterr().out
    assert "check onnx fp32: 100.000 % of code bits and 100.0 % of codes equal PyTorch's on 64 random images" in out
    assert "check openvino fp32: 100.000 % of code bits" in out
    record = json.loads(onnx_paths(run)[1].read_text())["runtime_check"]
    assert record["images"] == 64 and set(record["runtimes"]) == {"onnx", "openvino"}


def test_agreement_counts_bits_and_whole_codes():
    reference = np.array([[1.0, -1.0, 0.5, -0.2], [0.3, 0.3, -0.1, 0.9]], np.float32)
    other = np.array([[1.0, -1.0, 0.4, -0.1], [0.3, -0.2, -0.1, 0.9]], np.float32)  # one bit of row 1 flips
    found = agreement(reference, other)
    assert found == {"bits_agree": 7 / 8, "codes_identical": 0.5, "max_abs_h_disagreeing": pytest.approx(0.3)}
