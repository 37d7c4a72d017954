"""The attention gate from the encoding pass equals the old separate attention pass.

Old path (before the gate was kept): PyTorch ran ``MLRSIRNet.spatial_attention`` (the
gate upsampled to the input size) then upsampled it to the image; ONNX Runtime / OpenVINO
ran the export and upsampled its ``attention`` output twice. The new path is
``Encoder.encode_uint8_with_attention`` (codes and gate in one forward pass) then
``attention_from_gate``. Tolerances: the same runtime gives the same floats (1e-6, in
practice 0); across runtimes 1e-4 (float rounding of the two graphs).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mlrsir.data.transforms import to_float_normalized
from mlrsir.inference.encoder import load_encoder
from mlrsir.inference.runtimes import runtime_available
from tests.inference.test_onnx import make_random_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = make_random_run(tmp_path_factory.mktemp("gate") / "run")
    if runtime_available("onnx"):
        pytest.importorskip("onnx")
        from mlrsir.inference.onnx_export import export_onnx

        export_onnx(run_dir, log=lambda _m: None)
    return run_dir


def _images(n: int = 3) -> list[Image.Image]:
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 256, size=(50 + 7 * i, 70, 3), dtype=np.uint8), "RGB") for i in range(n)]


def old_torch_map(encoder, image: Image.Image) -> np.ndarray:
    """The PyTorch attention path as it was: the model's own ``spatial_attention``."""
    batch = encoder._prepare([image])
    with torch.no_grad():
        gate = encoder.fast_model.spatial_attention(to_float_normalized(batch))
        gate = F.interpolate(gate.float(), size=(image.height, image.width), mode="bilinear", align_corners=False)
    return gate[0, 0].clamp(0, 1).numpy()


def old_export_map(encoder, image: Image.Image) -> np.ndarray:
    """The export's attention path as it was: its ``attention`` output upsampled twice."""
    batch = encoder._prepare([image])
    _h, att = encoder.onnx.run(batch.numpy())
    gate = F.interpolate(torch.from_numpy(att), size=batch.shape[-2:], mode="bilinear", align_corners=False)
    gate = F.interpolate(gate, size=(image.height, image.width), mode="bilinear", align_corners=False)
    return gate[0, 0].clamp(0, 1).numpy()


def _same_pass_maps(encoder, images):
    codes, outputs, gates = encoder.encode_images_with_attention(images)
    ref_codes, ref_outputs = encoder.encode_images(images)
    assert np.array_equal(codes, ref_codes) and np.array_equal(outputs, ref_outputs)  # the code is unchanged
    assert gates.shape == (len(images), 1, 7, 7) and 0 < gates.min() and gates.max() < 1
    return [encoder.attention_from_gate(g, im.width, im.height) for g, im in zip(gates, images)]


def test_torch_gate_of_the_encoding_pass_equals_the_old_map(run):
    encoder = load_encoder(run, runtime="torch")
    images = _images()
    for image, new in zip(images, _same_pass_maps(encoder, images)):
        old = old_torch_map(encoder, image)
        assert new.shape == (image.height, image.width) and np.abs(new - old).max() <= 1e-6
        assert np.abs(encoder.spatial_attention(image) - old).max() <= 1e-6


@pytest.mark.parametrize("runtime", ["onnx", "openvino"])
def test_export_gate_of_the_encoding_pass_equals_the_old_map(run, runtime):
    if not runtime_available(runtime) or not runtime_available("onnx"):
        pytest.skip(f"{runtime} (and onnx, for the export) not installed")
    encoder = load_encoder(run, runtime=runtime)
    oracle = load_encoder(run, runtime="torch")
    images = _images()
    for image, new in zip(images, _same_pass_maps(encoder, images)):
        assert np.abs(new - old_export_map(encoder, image)).max() <= 1e-6
        assert np.abs(new - old_torch_map(oracle, image)).max() < 1e-4
