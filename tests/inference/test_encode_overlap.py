"""``Encoder.encode_paths``: the overlapped pipeline (decode threads ahead of inference) gives
exactly the codes, outputs, sizes and errors of the sequential path (``overlap=False``)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlrsir.inference.encoder import decode_for_encoding, load_encoder
from tests.inference.test_onnx import make_random_run


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("overlap")
    run = make_random_run(root / "run")
    rng = np.random.default_rng(3)
    paths = []
    for i in range(11):
        path = root / "images" / f"{i:02d}.{'jpg' if i % 2 else 'png'}"
        path.parent.mkdir(exist_ok=True)
        size = (40 + 9 * i, 64 + 5 * i)
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    broken = root / "images" / "broken.jpg"
    broken.write_bytes(b"not an image")
    paths.insert(4, broken)
    return run, paths


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_overlapped_equals_sequential(files, batch_size):
    run, paths = files
    encoder = load_encoder(run, runtime="torch")
    results = {}
    for overlap in (True, False):
        sizes: list = []
        codes, outputs, ok, errors = encoder.encode_paths(
            paths, batch_size=batch_size, progress=False, overlap=overlap, sizes=sizes, workers=3, ahead=2
        )
        results[overlap] = (codes, outputs, ok, errors, sizes)
    (c1, o1, ok1, e1, s1), (c0, o0, ok0, e0, s0) = results[True], results[False]
    assert np.array_equal(c1, c0) and np.array_equal(o1, o0)
    assert ok1.tolist() == ok0.tolist() and ok1.sum() == 11 and not ok1[4]
    assert e1 == e0 and len(e1) == 1 and "broken.jpg" in e1[0][0]
    assert s1 == s0 and s1[4] is None
    # and both equal a batch-free reference: each file decoded alone, then encoded
    arrays = np.stack([decode_for_encoding(p, encoder.image_size)[0] for p in paths if p.name != "broken.jpg"])
    import torch

    ref_codes, _ = encoder.encode_uint8(torch.from_numpy(arrays))
    assert np.array_equal(c1, ref_codes)
