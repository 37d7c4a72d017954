"""A stand-in for ``mlrsir.training.encoder.Encoder`` (same attributes), and image helpers.

The fake's code of an image is 12 bits: for each of the 4 quadrants and each RGB channel,
1 when the channel mean is > 127. Its fingerprint is read from ``RUN_DIR/fake.json`` so a
test can "retrain" the model by rewriting that file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.images import read_rgb
from mlrsir.errors import DataError

BITS = 12


def make_run(run_dir: Path, weights: str = "aaaa", retrieval: str = "hamming", compact: bool = True) -> Path:
    """A fake run; ``compact``: encode_paths returns one row per readable file (else per path)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "fake.json").write_text(
        json.dumps({"weights_sha256": weights, "retrieval": retrieval, "compact": compact}))
    return run_dir


def quadrant_code(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = arr.shape[:2]
    means = [arr[r : r + h // 2, c : c + w // 2].reshape(-1, 3).mean(axis=0)
             for r in (0, h // 2) for c in (0, w // 2)]
    means = np.concatenate(means)  # (12,)
    return (means > 127).astype(np.uint8), (means / 255 - 0.5).astype(np.float32)


class FakeEncoder:
    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        spec = json.loads((self.run_dir / "fake.json").read_text())
        self.bits = BITS
        self.retrieval = spec["retrieval"]
        self.classes = ["red", "green", "blue"]
        self.fingerprint = {"bits": BITS, "backbone": "fake", "method": "mlrsir", "image_size": 32,
                            "weights_sha256": spec["weights_sha256"]}
        self.calls = 0
        self.compact = spec.get("compact", True)

    def encode_images(self, images):
        self.calls += 1
        pairs = [quadrant_code(im) for im in images]
        return (np.stack([p[0] for p in pairs]).reshape(len(images), BITS),
                np.stack([p[1] for p in pairs]).reshape(len(images), BITS))

    def encode_paths(self, paths, batch_size=64, progress=True, on_error="skip"):
        codes = np.zeros((len(paths), BITS), np.uint8)
        outputs = np.zeros((len(paths), BITS), np.float32)
        ok = np.zeros(len(paths), bool)
        errors = []
        for i, path in enumerate(paths):
            try:
                image = read_rgb(path)
            except DataError as exc:
                if on_error == "raise":
                    raise
                errors.append((str(path), str(exc)))
                continue
            codes[i], outputs[i] = quadrant_code(image)
            ok[i] = True
        if self.compact:  # like the real encoder: one row per readable file
            return codes[ok], outputs[ok], ok, errors
        return codes, outputs, ok, errors


def write_image(path: Path, quadrant_colours, size=(32, 24), fmt=None) -> Path:
    """An image whose 4 quadrants have the given RGB colours (TL, TR, BL, BR)."""
    w, h = size
    arr = np.zeros((h, w, 3), np.uint8)
    for (r, c), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), quadrant_colours):
        arr[r * h // 2 : (r + 1) * h // 2, c * w // 2 : (c + 1) * w // 2] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


@pytest.fixture
def fake_encoder(monkeypatch):
    """Make ``mlrsir.training.encoder.load_encoder`` return a :class:`FakeEncoder`."""
    import mlrsir.training.encoder as encoder_module

    monkeypatch.setattr(encoder_module, "load_encoder", FakeEncoder)
    return FakeEncoder
