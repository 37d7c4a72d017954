"""A trained run as an image encoder: images in, codes out.

Used by ``mlrsir encode`` / ``evaluate``, the index and the web app. The encoder rebuilds the network
from ``RUN_DIR/config.json`` and loads ``model.safetensors`` (no pickle, no code run on
load). Images are resized exactly as during training (:func:`mlrsir.data.transforms.pil_to_uint8_tensor`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from mlrsir.codes import binarize
from mlrsir.data.images import read_rgb
from mlrsir.data.transforms import pil_to_uint8_tensor, to_float_normalized
from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.fast_copy import prepare_for_inference
from mlrsir.inference.fingerprint import model_fingerprint
from mlrsir.inference.model import build_model
from mlrsir.methods.registry import get_method
from mlrsir.training.checkpoint import load_tensors
from mlrsir.training.config import TrainConfig
from mlrsir.training.run_dir import RunPaths


class Encoder:
    """Encodes PIL images with a trained run (see ``docs/ARCHITECTURE.md``)."""

    def __init__(self, run_dir: str | Path, device: str = "cpu"):
        paths = RunPaths(run_dir)
        if not paths.root.is_dir():
            raise ConfigError(f"{paths.root}: run directory not found")
        if not paths.config.is_file() or not paths.model.is_file():
            raise ConfigError(
                f"{paths.root}: not a finished run (needs config.json and model.safetensors; "
                f"train it with `mlrsir train --out {paths.root}`)"
            )
        self.paths = paths
        self.run_dir = paths.root
        self.config = TrainConfig.load(paths.config)
        self.method = get_method(self.config.method, self.config.bits, **self.config.method_params)
        cfg = TrainConfig.from_dict({**self.config.to_dict(), "weights": "none"})
        self.model = build_model(cfg, self.method)
        self.model.load_state_dict(load_tensors(paths.model))
        if paths.method.is_file():
            self.method.load_state_dict(load_tensors(paths.method))
        self.device = torch.device(device)
        self.model.to(self.device).eval()
        # BatchNorm folded + channels-last copy: same outputs (~1e-5), several times faster on CPU
        self.fast_model = prepare_for_inference(self.model)
        meta = json.loads(paths.meta.read_text()) if paths.meta.is_file() else {}
        self.classes: list[str] | None = meta.get("classes")
        self.bits = self.config.bits
        self.retrieval = self.method.retrieval
        self.image_size = self.config.image_size
        self.fingerprint: dict[str, Any] = model_fingerprint(self.config, paths.model)

    # -- encoding ---------------------------------------------------------------------
    def _prepare(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([pil_to_uint8_tensor(img, self.image_size) for img in images])

    @torch.no_grad()
    def encode_uint8(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 3, S, S)`` uint8 -> (codes, outputs): see :meth:`encode_images`."""
        out = self.fast_model(to_float_normalized(batch).to(self.device)).float().cpu().numpy()
        return self.codes_from_outputs(out), out

    def codes_from_outputs(self, outputs: np.ndarray) -> np.ndarray:
        if self.retrieval == "hamming":
            return binarize(outputs)
        return self.method.encode_database(outputs)

    def encode_images(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Codes and continuous outputs of RGB images.

        Returns:
            ``codes``: ``(N, k)`` uint8 in {0, 1} for Hamming methods (codebook assignments
            ``(N, M)`` for quantizer methods); ``outputs``: ``(N, D)`` float32 head outputs.
        """
        if not images:
            return np.zeros((0, self.bits), np.uint8), np.zeros((0, self.method.out_dim), np.float32)
        return self.encode_uint8(self._prepare(images))

    def encode_paths(
        self,
        paths: Iterable[str | Path],
        batch_size: int = 64,
        progress: bool = True,
        on_error: str = "skip",
        workers: int = 4,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, str]]]:
        """Encode image files in batches, decoding in a thread pool.

        Returns ``(codes, outputs, ok_mask (N,) bool, errors [(path, message)])``; codes and
        outputs have one row per readable file (in input order). With ``on_error="raise"``
        the first unreadable file raises :class:`~mlrsir.errors.DataError`.
        """
        paths = [Path(p) for p in paths]
        ok = np.zeros(len(paths), dtype=bool)
        errors: list[tuple[str, str]] = []
        codes, outs = [], []

        def load(path: Path):
            try:
                return pil_to_uint8_tensor(read_rgb(path), self.image_size), None
            except DataError as exc:
                return None, str(exc)

        bar = tqdm(total=len(paths), desc="encode", unit="img", disable=not progress, dynamic_ncols=True)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(paths), batch_size):
                chunk = paths[start : start + batch_size]
                tensors = []
                for offset, (tensor, error) in enumerate(pool.map(load, chunk)):
                    if error is not None:
                        if on_error == "raise":
                            bar.close()
                            raise DataError(error)
                        errors.append((str(chunk[offset]), error))
                        continue
                    ok[start + offset] = True
                    tensors.append(tensor)
                if tensors:
                    c, o = self.encode_uint8(torch.stack(tensors))
                    codes.append(c)
                    outs.append(o)
                bar.update(len(chunk))
        bar.close()
        if not codes:
            empty_codes, empty_out = self.encode_images([])
            return empty_codes, empty_out, ok, errors
        return np.concatenate(codes), np.concatenate(outs), ok, errors

    @torch.no_grad()
    def spatial_attention(self, image: Image.Image) -> np.ndarray:
        """CBAM spatial gate of one image, upsampled to the image size: ``(H, W)`` float32 in [0, 1]."""
        x = to_float_normalized(self._prepare([image])).to(self.device)
        gate = self.fast_model.spatial_attention(x)  # (1, 1, S, S)
        gate = F.interpolate(gate.float(), size=(image.height, image.width), mode="bilinear", align_corners=False)
        return gate[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32)


def load_encoder(run_dir: str | Path, device: str = "cpu") -> Encoder:
    """Load a finished run as an :class:`Encoder`."""
    return Encoder(run_dir, device=device)
