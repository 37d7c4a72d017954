"""Issue 28 item 2: int8 post-training quantization with NNCF (``mlrsir export --int8``).

A random-weights MLRSIR-NET at 64x64 on a generated UCM copy. Checked: calibration images
come from the run's training part only; weights are quantized per channel while the hash
head stays fp32; the printed and recorded gates equal the bits, codes and mAP recomputed
here through the encoder; a stale or missing int8 model is refused; an index of int8 codes
warns when searched at fp32.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx not installed (pip install 'mlrsir[onnx]')")
ov = pytest.importorskip("openvino", reason="openvino not installed (pip install 'mlrsir[openvino]')")
pytest.importorskip("nncf", reason="nncf not installed (pip install 'mlrsir[openvino]')")

import torch  # noqa: E402

from mlrsir.cli.main import main  # noqa: E402
from mlrsir.codes import binarize  # noqa: E402
from mlrsir.data.cache import load_image_array  # noqa: E402
from mlrsir.data.registry import load_dataset  # noqa: E402
from mlrsir.data.splits import load_or_create_split, protocol_indices  # noqa: E402
from mlrsir.errors import ConfigError  # noqa: E402
from mlrsir.inference import int8_quantize  # noqa: E402
from mlrsir.inference.encoder import load_encoder  # noqa: E402
from mlrsir.inference.int8_files import int8_paths, int8_problem  # noqa: E402
from mlrsir.inference.onnx_export import export_onnx  # noqa: E402
from mlrsir.metrics.protocol import evaluate_method  # noqa: E402
from mlrsir.run.config import TrainConfig  # noqa: E402
from tests.fixtures.make_datasets import make_ucm_fixture  # noqa: E402
from tests.fixtures.make_images import write_random_pngs  # noqa: E402
from tests.inference.test_onnx import make_random_run  # noqa: E402


@pytest.fixture(scope="module")
def int8_run(tmp_path_factory):
    """A run on a generated dataset (with its split), exported and quantized by the CLI."""
    base = tmp_path_factory.mktemp("int8")
    root = make_ucm_fixture(base / "ucm", scenes=3, per_scene=8, size=64)
    run = make_random_run(base / "run")
    config = TrainConfig.load(run / "config.json")
    config = TrainConfig.from_dict({**config.to_dict(), "root": str(root)})
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    load_or_create_split(run / "split.json", load_dataset("ucm", root), seed=0)
    export_onnx(run, log=lambda _m: None)
    seen: dict = {}
    real = int8_quantize.quantize_onnx_int8

    def spy(onnx_file, calibration, out_xml, keep_head_fp32=True):
        seen["calibration"] = calibration.copy()
        return real(onnx_file, calibration, out_xml, keep_head_fp32=keep_head_fp32)

    mp = pytest.MonkeyPatch()
    mp.setenv("MLRSIR_CACHE", str(base / "cache"))
    mp.setattr(int8_quantize, "quantize_onnx_int8", spy)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", "--run", str(run), "--int8", "--calibration-images", "6", "--no-check"]) == 0
    yield {"run": run, "root": root, "calibration": seen["calibration"], "printed": out.getvalue()}
    mp.undo()


def _data(run, root):
    config = TrainConfig.load(run / "config.json")
    dataset = load_dataset("ucm", root)
    split = load_or_create_split(run / "split.json", dataset, seed=0)
    images = load_image_array(dataset, config.image_size, progress=False)
    return dataset, images, protocol_indices(split, config.eval_split)


def test_calibration_uses_training_images_only(int8_run):
    _, images, (train_idx, query_idx, _db) = _data(int8_run["run"], int8_run["root"])
    calibration = int8_run["calibration"]
    assert calibration.shape == (6, 3, 64, 64) and calibration.dtype == np.uint8
    rows = {images[i].tobytes(): int(i) for i in range(len(images))}
    used = {rows[c.tobytes()] for c in calibration}
    assert len(used) == 6 and used <= set(train_idx.tolist()) and not used & set(query_idx.tolist())
    record = json.loads(int8_paths(int8_run["run"])[2].read_text())
    assert record["calibration"] == {"part": "train", "images": 6, "seed": 0}


def _weight_storage(op) -> tuple[str, list[int] | None]:
    """``(element type of the stored weights, shape of their dequantization scale or None)``:
    NNCF stores quantized weights as an int8 constant, converted and multiplied by a scale."""
    node = op.input_value(1).get_node()
    scale = None
    if node.get_type_name() == "Multiply":
        scale = list(node.input_value(1).get_node().get_output_shape(0))
        node = node.input_value(0).get_node()
        if node.get_type_name() == "Convert":
            node = node.input_value(0).get_node()
    return str(node.get_output_element_type(0)), scale


def test_weights_per_channel_and_hash_head_kept_fp32(int8_run):
    model = ov.Core().read_model(str(int8_paths(int8_run["run"])[0]))
    ops = {
        op.get_friendly_name(): op for op in model.get_ordered_ops() if op.get_type_name() in ("Convolution", "MatMul")
    }
    head = [op for name, op in ops.items() if "/hash_head/" in name]
    assert len(head) == 2
    for op in head:  # fp32 weights, fp32 activations
        assert _weight_storage(op) == ("<Type: 'float32'>", None)
        assert op.input_value(0).get_node().get_type_name() != "FakeQuantize"
    convs = [op for name, op in ops.items() if "/_project_conv/" in name]
    assert len(convs) >= 10
    for op in convs:  # int8 weights with one scale per output channel, int8 activations
        kind, scale = _weight_storage(op)
        channels = op.get_output_partial_shape(0)[1].get_length()
        assert kind == "<Type: 'int8_t'>" and scale == [channels, 1, 1, 1] and channels > 1
        assert op.input_value(0).get_node().get_type_name() == "FakeQuantize"


def test_gates_are_printed_and_equal_a_recomputation(int8_run):
    run = int8_run["run"]
    dataset, images, (_train, query_idx, db_idx) = _data(run, int8_run["root"])
    fp32 = load_encoder(run, runtime="openvino", precision="fp32")
    int8 = load_encoder(run, runtime="openvino", precision="int8")
    assert int8.encoding == {"runtime": "openvino", "precision": "int8"}
    batch = torch.from_numpy(images)
    c32, h32 = fp32.encode_uint8(batch)
    c8, h8 = int8.encode_uint8(batch)
    _, h_torch = load_encoder(run, runtime="torch").encode_uint8(batch)
    assert np.array_equal(binarize(h_torch), c32)  # the fp32 reference is PyTorch's codes
    gates = json.loads(int8_paths(run)[2].read_text())["gates"]
    assert gates["images"] == len(images)
    assert gates["bits_agree"] == pytest.approx(float((c32 == c8).mean()))
    assert gates["codes_identical"] == pytest.approx(float((c32 == c8).all(axis=1).mean()))
    labels = np.asarray(dataset.labels)

    def mean_ap(codes, h):
        return evaluate_method(
            fp32.method, h[query_idx], None, labels[query_idx], labels[db_idx], db_repr=codes[db_idx]
        )["map"]

    assert gates["map_fp32"] == pytest.approx(mean_ap(c32, h32))
    assert gates["map_int8"] == pytest.approx(mean_ap(c8, h8))
    assert gates["map_change"] == pytest.approx(gates["map_int8"] - gates["map_fp32"])
    printed = int8_run["printed"]
    assert f"{gates['bits_agree'] * 100:.2f} % of code bits" in printed
    assert f"change {gates['map_change']:+.4f}" in printed and "calibrated on 6 training images" in printed


def test_missing_or_stale_int8_model_is_refused(int8_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(int8_run["run"], run)
    assert int8_problem(run) is None
    bin_file = int8_paths(run)[1]
    data = bytearray(bin_file.read_bytes())
    data[-1] ^= 0xFF
    bin_file.write_bytes(bytes(data))
    with pytest.raises(ConfigError, match="do not match model.int8.json"):
        load_encoder(run, runtime="openvino", precision="int8")
    for path in int8_paths(run):
        path.unlink()
    with pytest.raises(ConfigError, match=r"no int8 model .*mlrsir export --run .* --int8"):
        load_encoder(run, runtime="auto", precision="int8")
    with pytest.raises(ConfigError, match="need --runtime openvino"):
        load_encoder(run, runtime="onnx", precision="int8")


def test_index_of_int8_codes_warns_when_searched_at_fp32(int8_run, tmp_path, capsys):
    from mlrsir.index.store import CodeIndex

    run = int8_run["run"]
    images = write_random_pngs(tmp_path / "images", 4)
    ix = tmp_path / "ix"
    build = ["index", "build", "--run", str(run), "--images", str(images), "--index", str(ix), "--quiet"]
    assert main([*build, "--runtime", "openvino", "--precision", "int8"]) == 0
    with CodeIndex.open(ix, readonly=True) as index:
        assert (index.fingerprint["runtime"], index.fingerprint["precision"]) == ("openvino", "int8")
    capsys.readouterr()
    query = ["search", "--index", str(ix), "--query", str(images / "0.png"), "--k", "2", "--json"]
    assert main([*query, "--runtime", "openvino"]) == 0
    err = capsys.readouterr().err
    assert "mlrsir: warning:" in err and "made at int8 (openvino runtime)" in err and "runs at fp32" in err
    assert main([*query, "--runtime", "openvino", "--precision", "int8"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_bench_encode_measures_int8_once_it_is_built(int8_run, tmp_path):
    import shutil

    from mlrsir.bench.encode import precisions_to_measure

    assert precisions_to_measure("openvino", run_dir=int8_run["run"]) == ["fp32", "bf16", "int8"]
    assert precisions_to_measure("openvino", ["int8"], run_dir=int8_run["run"]) == ["int8"]
    run = tmp_path / "copy"
    shutil.copytree(int8_run["run"], run)
    int8_paths(run)[0].unlink()
    assert precisions_to_measure("openvino", run_dir=run) == ["fp32", "bf16"]
    assert precisions_to_measure("onnx", run_dir=int8_run["run"]) == ["fp32"]


@pytest.mark.parametrize("extra", [["--fixed-batch", "8"], ["--quantize", "int8"], ["--out", "elsewhere.onnx"]])
def test_int8_refuses_other_export_options(tmp_path, extra, capsys):
    run = make_random_run(tmp_path / "run")
    assert main(["export", "--run", str(run), "--int8", *extra]) != 0
    assert "--int8 quantizes the dynamic-batch RUN/model.onnx" in capsys.readouterr().err
    assert not (run / "model.onnx").exists()
