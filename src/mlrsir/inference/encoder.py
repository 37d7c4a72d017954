"""A trained run as an image encoder: images in, codes out.

Used by ``mlrsir encode`` / ``evaluate``, the index and the web app. The encoder rebuilds the network
from ``RUN_DIR/config.json`` and loads ``model.safetensors`` (no pickle, no code run on
load). Images are resized exactly as during training (:func:`mlrsir.data.transforms.pil_to_uint8_tensor`).

Runtimes (``runtime=``, CLI ``--runtime``; the rule is
:func:`mlrsir.inference.runtimes.resolve_runtime`): ``torch`` runs the BatchNorm-folded PyTorch
copy (the oracle); ``onnx`` runs ``RUN/model.onnx`` (written by ``mlrsir export``) with ONNX
Runtime (:mod:`mlrsir.inference.onnx_runtime`), ``openvino`` the same file with OpenVINO
(:mod:`mlrsir.inference.openvino_runtime`); ``auto`` (default) picks an export runtime when a
current export is present and its package is importable. ``encoder.runtime`` and
``encoder.precision`` say which is in use. At ``fp32`` all give the same codes up to float
rounding (bits with ``|h| < 1e-3`` may differ); ``precision="bf16"`` and ``"int8"`` (OpenVINO
only; int8 runs ``RUN/model.int8.xml`` of ``mlrsir export --int8``) change a few bits per code.
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
from mlrsir.data.images import read_rgb, rgb_to_uint8_array
from mlrsir.data.transforms import pil_to_uint8_tensor, to_float_normalized
from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.fingerprint import model_fingerprint
from mlrsir.inference.int8_files import int8_paths
from mlrsir.inference.onnx_export import onnx_paths
from mlrsir.inference.onnx_runtime import OnnxModel
from mlrsir.inference.openvino_runtime import OpenVinoModel
from mlrsir.inference.runtimes import check_precision, resolve_runtime
from mlrsir.methods.registry import get_method
from mlrsir.models.build import build_model
from mlrsir.models.fast_copy import prepare_for_inference
from mlrsir.models.input_spec import input_spec, resize_bands
from mlrsir.run.checkpoint import load_tensors
from mlrsir.run.config import TrainConfig
from mlrsir.run.run_dir import RunPaths


def decode_for_encoding(path: str | Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """One image file as :meth:`Encoder.encode_paths` (and the Ray engine's decode stage)
    feed it to the network: ``(uint8 (3, size, size), (width, height) of the file)``.

    ``read_rgb`` with the ``target_size`` hint (large JPEGs decoded at reduced scale) and the
    cache's exact resize; both engines call this one function so their codes are identical.

    Raises:
        DataError: unreadable file (message starts with the path).
    """
    image = read_rgb(path, target_size=size)
    original = image.info.get("original_size", image.size)
    return rgb_to_uint8_array(image, size), (int(original[0]), int(original[1]))


class Encoder:
    """Encodes PIL images with a trained run (see ``docs/ARCHITECTURE.md``)."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", runtime: str = "auto", precision: str = "fp32"):
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
        self.inputs = input_spec(self.config)  # 8-bit RGB, or the bands of a multispectral run
        self.fingerprint: dict[str, Any] = model_fingerprint(self.config, paths.model)
        self.onnx: Any = None  # the session of RUN/model.onnx (OnnxModel or OpenVinoModel), if one runs
        self.runtime = "torch"
        self.precision = "fp32"
        self.runtime_note: str | None = None
        if device == "cpu":
            chosen, self.runtime_note = resolve_runtime(runtime, paths.root, self.config, precision)
            if chosen != "torch":
                onnx_file, meta_file = onnx_paths(paths.root)
                export_meta = json.loads(meta_file.read_text())
                fixed = export_meta.get("fixed_batch")
                if chosen == "onnx":
                    self.onnx = OnnxModel(onnx_file, fixed_batch=fixed)
                else:
                    model_file = int8_paths(paths.root)[0] if check_precision(precision) == "int8" else onnx_file
                    self.onnx = OpenVinoModel(model_file, precision=precision, fixed_batch=fixed)
                    self.precision = self.onnx.precision
                self.runtime = chosen
                if export_meta.get("quantize"):  # e.g. an int8 export: its codes are not fp32 ones
                    q = str(export_meta["quantize"])
                    self.precision = q if self.precision == "fp32" else f"{q}+{self.precision}"
        else:
            if runtime in ("onnx", "openvino") or check_precision(precision) != "fp32":
                raise ConfigError(
                    f"--runtime {runtime} --precision {precision} runs on the CPU only (device {device!r} asked)"
                )

    @property
    def encoding(self) -> dict[str, str]:
        """``{"runtime", "precision"}`` of the codes this encoder makes (recorded by an index).

        ``precision``: ``fp32``, ``bf16``, or the export's quantization (``int8``, ``int8+bf16``)
        when ``mlrsir export --quantize`` made the file.
        """
        return {"runtime": self.runtime, "precision": self.precision}

    # -- encoding ---------------------------------------------------------------------
    def _prepare(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return torch.stack([pil_to_uint8_tensor(img, self.image_size) for img in images])

    @torch.no_grad()
    def encode_uint8(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(B, 3, S, S)`` uint8 -> (codes, outputs): see :meth:`encode_images`."""
        if self.inputs.multispectral:
            raise ConfigError(
                f"{self.run_dir}: a multispectral run (bands {self.config.bands}, {self.inputs.in_chans} "
                "channels) does not take 8-bit RGB images; use encode_arrays"
            )
        if self.onnx is not None:
            out, _att = self.onnx.run(np.asarray(batch))
            return self.codes_from_outputs(out), out
        out = self.fast_model(to_float_normalized(batch).to(self.device)).float().cpu().numpy()
        return self.codes_from_outputs(out), out

    @torch.no_grad()
    def encode_arrays(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Band arrays -> (codes, outputs) (see :meth:`encode_images`), any run.

        ``x``: ``(B, C, H, W)`` float (array or tensor) in 0..255, i.e. after the run's
        radiometric rule (``config.radiometry``; :meth:`Radiometry.apply`), bands in the
        run's order (``config.bands``; C = 3 for RGB runs, values = 8-bit pixel values).
        Resized to ``image_size`` as in training (:func:`mlrsir.models.input_spec.resize_bands`),
        normalised with :func:`mlrsir.models.in_chans.normalize_bands`; always the PyTorch
        (BatchNorm-folded) model.
        """
        x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        if x.ndim != 4 or x.shape[1] != self.inputs.in_chans:
            raise ConfigError(
                f"encode_arrays: expected (B, {self.inputs.in_chans}, H, W) band arrays for this run, "
                f"got {tuple(x.shape)}"
            )
        if len(x) == 0:
            return self.encode_images([])
        x = self.inputs.normalize(resize_bands(x, self.image_size)).to(self.device)
        out = self.fast_model(x).float().cpu().numpy()
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
        sizes: list | None = None,
        overlap: bool = True,
        ahead: int = 2,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, str]]]:
        """Encode image files in batches; decoding runs in a thread pool, overlapped with inference.

        The images of the next ``ahead`` batches are decoded (and resized) by ``workers``
        threads while the current batch is encoded, so at most ``(ahead + 1) * batch_size``
        decoded images (``3 S^2`` bytes each) are held. ``overlap=False`` decodes each batch
        in the calling thread, then encodes it (the sequential baseline of ``mlrsir bench
        encode``; same codes). JPEGs far larger than the input size are decoded at reduced
        scale (:func:`~mlrsir.data.images.read_rgb` ``target_size``).

        Returns ``(codes, outputs, ok_mask (N,) bool, errors [(path, message)])``; codes and
        outputs have one row per readable file (in input order). With ``on_error="raise"``
        the first unreadable file raises :class:`~mlrsir.errors.DataError`. When ``sizes``
        (a list) is given it receives one entry per input path: the file's ``(width,
        height)`` as decoded, or None for an unreadable file (no second open needed).
        """
        paths = [Path(p) for p in paths]
        ok = np.zeros(len(paths), dtype=bool)
        errors: list[tuple[str, str]] = []
        codes, outs = [], []
        found_sizes: list = [None] * len(paths)
        size = self.image_size

        def load(path: Path):
            try:
                array, original = decode_for_encoding(path, size)
                return array, original, None
            except DataError as exc:
                return None, None, str(exc)

        starts = list(range(0, len(paths), batch_size))
        bar = tqdm(total=len(paths), desc="encode", unit="img", disable=not progress, dynamic_ncols=True)
        try:
            with ThreadPoolExecutor(max_workers=max(1, workers) if overlap else 1) as pool:
                pending: dict[int, list] = {}

                def submit(i: int) -> None:
                    if i < len(starts) and i not in pending:
                        pending[i] = [pool.submit(load, p) for p in paths[starts[i] : starts[i] + batch_size]]

                def decoded(i: int) -> list:
                    if not overlap:
                        return [load(p) for p in paths[starts[i] : starts[i] + batch_size]]
                    for later in range(i, i + 1 + max(0, ahead)):  # this batch and the next ones decode meanwhile
                        submit(later)
                    return [future.result() for future in pending.pop(i)]

                for i, start in enumerate(starts):
                    arrays = []
                    for offset, (array, found, error) in enumerate(decoded(i)):
                        if error is not None:
                            if on_error == "raise":
                                for futures in pending.values():
                                    for f in futures:
                                        f.cancel()
                                raise DataError(error)
                            errors.append((str(paths[start + offset]), error))
                            continue
                        ok[start + offset] = True
                        found_sizes[start + offset] = found
                        arrays.append(array)
                    if arrays:
                        c, o = self.encode_uint8(torch.from_numpy(np.stack(arrays)))
                        codes.append(c)
                        outs.append(o)
                    bar.update(min(batch_size, len(paths) - start))
        finally:
            bar.close()
        if sizes is not None:
            sizes[:] = found_sizes
        if not codes:
            empty_codes, empty_out = self.encode_images([])
            return empty_codes, empty_out, ok, errors
        return np.concatenate(codes), np.concatenate(outs), ok, errors

    @torch.no_grad()
    def encode_uint8_with_attention(self, batch: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`encode_uint8` and, from the same forward pass, each image's CBAM spatial gate.

        Returns ``(codes, outputs, gates)``: codes and outputs equal :meth:`encode_uint8`'s;
        ``gates`` ``float32 (B, 1, P, P)`` in (0, 1) (``P`` = the fusion's pool size; all
        ones for a model without CBAM). :meth:`attention_from_gate` turns one into a map.
        """
        if self.onnx is not None:
            out, att = self.onnx.run(np.asarray(batch))  # the export's second output: the gate
            return self.codes_from_outputs(out), out, np.asarray(att, np.float32)
        if self.inputs.multispectral:
            self.encode_uint8(batch)  # the ConfigError naming the run
        model = self.fast_model
        out_t = model(to_float_normalized(batch).to(self.device))  # forward runs CBAM: it keeps its gate
        if model.cbam is None:
            p = model.pool_size
            gate = torch.ones(len(batch), 1, p, p)
        else:
            gate = model.cbam.last_spatial_gate
        out = out_t.float().cpu().numpy()
        return self.codes_from_outputs(out), out, gate.float().cpu().contiguous().numpy()

    def encode_images_with_attention(self, images: Sequence[Image.Image]):
        """:meth:`encode_images` plus the gates of :meth:`encode_uint8_with_attention`."""
        return self.encode_uint8_with_attention(self._prepare(images))

    def attention_from_gate(self, gate: np.ndarray, width: int, height: int) -> np.ndarray:
        """One gate of :meth:`encode_uint8_with_attention` (``(1, P, P)`` or ``(P, P)``) as
        the ``(height, width)`` float32 map in [0, 1] of :meth:`spatial_attention`: upsampled
        bilinearly to the input size ``S`` (as the model's own ``spatial_attention``), then to
        the image's size."""
        g = torch.from_numpy(np.array(gate, dtype=np.float32)).reshape(1, 1, *np.shape(gate)[-2:])
        size = (self.image_size, self.image_size)
        g = F.interpolate(g, size=size, mode="bilinear", align_corners=False)
        g = F.interpolate(g, size=(int(height), int(width)), mode="bilinear", align_corners=False)
        return g[0, 0].clamp(0, 1).numpy().astype(np.float32)

    def spatial_attention(self, image: Image.Image) -> np.ndarray:
        """CBAM spatial gate of one image, upsampled to the image size: ``(H, W)`` float32 in [0, 1]."""
        _codes, _out, gates = self.encode_images_with_attention([image])
        return self.attention_from_gate(gates[0], image.width, image.height)


def load_encoder(run_dir: str | Path, device: str = "cpu", runtime: str = "auto", precision: str = "fp32") -> Encoder:
    """Load a finished run as an :class:`Encoder` (``runtime``: ``auto``, ``onnx``, ``openvino`` or
    ``torch``; ``precision``: ``fp32`` or, with OpenVINO, ``bf16`` / ``int8``)."""
    return Encoder(run_dir, device=device, runtime=runtime, precision=precision)
