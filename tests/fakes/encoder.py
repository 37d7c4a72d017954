"""The one stand-in for :class:`mlrsir.inference.encoder.Encoder` (same attributes), and image helpers.

The fake's code of an image thresholds block means at 127: the image is cut into a
``grid x grid`` raster of blocks (row-major) and each block gives one bit per channel.
Two settings are used:

* ``"blocks"`` (default, the web tests): 4x4 blocks of the grey image -> 16 bits; images
  made by :func:`tests.web.fakes.pattern_image` encode exactly to their pattern.
* ``"quadrants"`` (the index tests, :func:`make_run`): 2x2 quadrants x R, G, B -> 12 bits
  (:func:`quadrant_code`).

A run directory may hold ``fake.json`` (written by :func:`make_run`) with the setting,
the weights hash, the retrieval kind and the ``encode_paths`` row convention, so a test
can "retrain" the model by rewriting that file and load it with
``mlrsir.inference.encoder.load_encoder`` replaced by :class:`FakeEncoder`
(the :func:`fake_encoder` fixture).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.images import read_rgb
from mlrsir.errors import DataError

SCHEMES = {"blocks": (4, True), "quadrants": (2, False)}
"""Setting name -> (grid, grey)."""


def block_code(image: Image.Image, grid: int, grey: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(code, outputs)``: per block (row-major) and channel, ``mean > 127`` and ``mean / 255 - 0.5``."""
    arr = np.asarray(image.convert("L" if grey else "RGB"), dtype=np.float32)
    arr = arr[..., None] if grey else arr
    h, w = arr.shape[:2]
    means = np.concatenate(
        [
            arr[r * h // grid : (r + 1) * h // grid, c * w // grid : (c + 1) * w // grid]
            .reshape(-1, arr.shape[2])
            .mean(axis=0)
            for r in range(grid)
            for c in range(grid)
        ]
    )
    return (means > 127).astype(np.uint8), (means / 255 - 0.5).astype(np.float32)


def quadrant_code(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """12-bit code of the ``"quadrants"`` setting."""
    return block_code(image, *SCHEMES["quadrants"])


def make_run(run_dir: Path, weights: str = "aaaa", retrieval: str = "hamming", compact: bool = True) -> Path:
    """A fake run of the ``"quadrants"`` setting; ``compact``: encode_paths returns one row
    per readable file (else one per path)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "fake.json").write_text(
        json.dumps(
            {
                "scheme": "quadrants",
                "weights_sha256": weights,
                "retrieval": retrieval,
                "compact": compact,
                "method": "mlrsir",
                "image_size": 32,
                "classes": ["red", "green", "blue"],
            }
        )
    )
    return run_dir


class FakeEncoder:
    """Encoder double (see the module doc): ``encode_images``, ``encode_paths``,
    ``spatial_attention`` (and its gate: ``encode_images_with_attention``,
    ``attention_from_gate``), ``bits``, ``fingerprint``, ``retrieval``, ``classes``, ``run_dir``."""

    def __init__(
        self, run_dir: Path | str | None = None, classes: list[str] | None = None, attention_fails: bool = False
    ):
        self.run_dir = Path(run_dir) if run_dir else Path("fake-run")
        spec_file = self.run_dir / "fake.json"
        spec = json.loads(spec_file.read_text()) if spec_file.is_file() else {}
        self.scheme = spec.get("scheme", "blocks")
        self.grid, self.grey = SCHEMES[self.scheme]
        self.bits = self.grid * self.grid * (1 if self.grey else 3)
        self.retrieval = spec.get("retrieval", "hamming")
        self.compact = spec.get("compact", True)
        self.classes = classes if classes is not None else spec.get("classes")
        self.fingerprint = {
            "bits": self.bits,
            "backbone": "fake",
            "method": spec.get("method", "fake-hash"),
            "image_size": spec.get("image_size", self.grid),
            "weights_sha256": spec.get("weights_sha256", "0" * 64),
        }
        self.attention_fails = attention_fails
        self.calls = 0

    def _code(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        return block_code(image, self.grid, self.grey)

    def encode_images(self, images):
        self.calls += 1
        pairs = [self._code(im) for im in images]
        return (
            np.stack([p[0] for p in pairs]).reshape(len(images), self.bits),
            np.stack([p[1] for p in pairs]).reshape(len(images), self.bits),
        )

    def encode_paths(self, paths, batch_size=64, progress=True, on_error="skip"):
        codes = np.zeros((len(paths), self.bits), np.uint8)
        outputs = np.zeros((len(paths), self.bits), np.float32)
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
            codes[i], outputs[i] = self._code(image)
            ok[i] = True
        if self.compact:  # like the real encoder: one row per readable file
            return codes[ok], outputs[ok], ok, errors
        return codes, outputs, ok, errors

    def spatial_attention(self, image):
        if self.attention_fails:
            raise NotImplementedError("this model has no CBAM")
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0

    def encode_images_with_attention(self, images):
        """``encode_images`` plus one "gate" per image: its grey level ``(1, H, W)`` (the
        real encoder's is ``(1, P, P)``); the code counts as one model call."""
        codes, outputs = self.encode_images(images)
        gates = [np.asarray(im.convert("L"), dtype=np.float32)[None] / 255.0 for im in images]
        self.gates_made = getattr(self, "gates_made", 0) + len(images)
        return codes, outputs, gates

    def attention_from_gate(self, gate, width, height):
        if self.attention_fails:
            raise NotImplementedError("this model has no CBAM")
        grey = Image.fromarray(np.asarray(gate, dtype=np.float32).reshape(np.shape(gate)[-2:]))
        return np.asarray(grey.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


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
    """Make ``mlrsir.inference.encoder.load_encoder`` return a :class:`FakeEncoder`."""
    import mlrsir.inference.encoder as encoder_module

    monkeypatch.setattr(encoder_module, "load_encoder", FakeEncoder)
    return FakeEncoder
