"""Export a trained run's encoder as ONNX, and find a current export beside a run.

``mlrsir export --run RUN --format onnx`` writes ``RUN/model.onnx`` and
``RUN/model.onnx.json``. The graph is the whole encoder::

    image  uint8 (B, 3, S, S)  0..255, resized like training (no normalisation needed)
    -> ImageNet normalisation -> BatchNorm-folded backbone -> multi-level fusion
    -> CBAM -> hash head
    outputs  h          float32 (B, D)      the head output (codes: h > 0, paper Eq. 5)
             attention  float32 (B, 1, P, P) CBAM spatial gate Ms in (0, 1), P = pool_size

The batch axis is dynamic unless ``fixed_batch`` is given. The adaptive average pooling of
the fusion is written as two matrix products with constant pooling matrices (the levels'
sizes are fixed by the run's ``image_size``), which is the same average and exports with a
dynamic batch axis.

Staleness: ``model.onnx.json`` records the run's fingerprint
(:func:`mlrsir.inference.fingerprint.model_fingerprint`, which includes the SHA-256 of
``model.safetensors``) and the SHA-256 of the ONNX file. :func:`find_current_export`
accepts the export only when both still match, so an export left beside a retrained model is
never used (``--runtime auto`` falls back to PyTorch, ``--runtime onnx`` refuses).

DQN/DTQ runs (asymmetric quantizer distance) export the same graph (``h`` is the
continuous output the quantizer encodes), so ``mlrsir encode`` can use it; an index still
refuses them (binary codes only).
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

from mlrsir.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from mlrsir.errors import ConfigError
from mlrsir.inference.fingerprint import file_sha256, model_fingerprint
from mlrsir.io_atomic import write_json_atomic

ONNX_FILE = "model.onnx"
META_FILE = "model.onnx.json"
EXPORT_FORMAT_VERSION = 1
OPSET = 17


def onnx_paths(run_dir: str | Path) -> tuple[Path, Path]:
    """``(RUN/model.onnx, RUN/model.onnx.json)``."""
    root = Path(run_dir)
    return root / ONNX_FILE, root / META_FILE


def _pooling_matrix(size_in: int, size_out: int):
    """``(size_out, size_in)`` float32 rows averaging the bins of ``adaptive_avg_pool``."""
    import torch  # noqa: PLC0415 (torch only on this path)

    mat = torch.zeros(size_out, size_in)
    for i in range(size_out):
        start = (i * size_in) // size_out
        end = -((-(i + 1) * size_in) // size_out)  # ceil
        mat[i, start:end] = 1.0 / (end - start)
    return mat


def export_graph(model, image_size: int):
    """The ``nn.Module`` that is exported: ``uint8 (B,3,S,S) -> (h, attention)``.

    Args:
        model: an eval-mode ``MLRSIRNet`` (BatchNorm folded or not).
        image_size: the run's input side ``S``.
    """
    import torch  # noqa: PLC0415 (torch only on this path)
    from torch import nn  # noqa: PLC0415 (torch only on this path)

    class EncoderGraph(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
            with torch.no_grad():
                probe = torch.zeros(1, 3, image_size, image_size)
                feats = model.backbone(probe)
            fusion = model.fusion
            levels = feats[-1:] if fusion.deepest_only else feats
            p = fusion.pool_size
            self.rows = nn.ParameterList()
            self.cols = nn.ParameterList()
            for f in levels:
                self.rows.append(nn.Parameter(_pooling_matrix(f.shape[2], p), requires_grad=False))
                self.cols.append(nn.Parameter(_pooling_matrix(f.shape[3], p).t().contiguous(), requires_grad=False))
            self.deepest_only = fusion.deepest_only

        def forward(self, image):
            x = (image.float() / 255.0 - self.mean) / self.std
            feats = self.model.backbone(x)
            levels = feats[-1:] if self.deepest_only else feats
            agg = torch.cat([torch.matmul(r, torch.matmul(f, c)) for f, r, c in zip(levels, self.rows, self.cols)], 1)
            m = self.model
            if m.cbam is None:
                gate = torch.ones_like(agg[:, :1])
            else:
                agg = m.cbam(agg)
                gate = m.cbam.last_spatial_gate
            return m.hash_head(agg), gate

    return EncoderGraph().eval()


def export_onnx(
    run_dir: str | Path,
    *,
    out: str | Path | None = None,
    fixed_batch: int | None = None,
    quantize: str | None = None,
    log=print,
) -> Path:
    """Write the ONNX encoder of a finished run (see the module docstring).

    Args:
        run_dir: a finished run (``config.json`` + ``model.safetensors``).
        out: ONNX file (default ``RUN/model.onnx``; the metadata goes beside it as ``.json``).
        fixed_batch: export with this fixed batch size instead of a dynamic batch axis.
        quantize: ``"int8"`` applies ONNX Runtime dynamic int8 quantization (weights int8,
            activations quantised per batch); None keeps float32.

    Returns:
        The ONNX file's path.

    Raises:
        ConfigError: not a finished run, or onnx / onnxruntime missing.
    """
    import torch  # noqa: PLC0415 (torch only on this path)

    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the `onnx` package: pip install 'mlrsir[onnx]'") from None
    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize {quantize!r}: only 'int8' is supported")
    from mlrsir.inference.encoder import Encoder  # noqa: PLC0415 (cycle: the encoder reads onnx_paths)

    encoder = Encoder(run_dir, runtime="torch")
    size = int(encoder.image_size)
    graph = export_graph(encoder.fast_model.to(memory_format=torch.contiguous_format), size)
    onnx_file, meta_file = onnx_paths(run_dir)
    if out is not None:
        onnx_file = Path(out)
        meta_file = onnx_file.with_name(onnx_file.name + ".json")
    onnx_file.parent.mkdir(parents=True, exist_ok=True)
    batch = int(fixed_batch) if fixed_batch else 2
    example = torch.zeros(batch, 3, size, size, dtype=torch.uint8)
    tmp = onnx_file.with_name(onnx_file.name + ".tmp")
    start = time.perf_counter()

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (example,),
            str(tmp),
            dynamo=False,
            input_names=["image"],
            output_names=["h", "attention"],
            dynamic_axes=None if fixed_batch else {"image": {0: "batch"}, "h": {0: "batch"}, "attention": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
        )
    if quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        qtmp = onnx_file.with_name(onnx_file.name + ".q.tmp")
        quantize_dynamic(str(tmp), str(qtmp), weight_type=QuantType.QInt8)
        tmp.unlink()
        qtmp.replace(tmp)
    tmp.replace(onnx_file)
    meta = {
        "format_version": EXPORT_FORMAT_VERSION,
        "fingerprint": encoder.fingerprint,
        "onnx_sha256": file_sha256(onnx_file),
        "opset": OPSET,
        "input": {"name": "image", "dtype": "uint8", "shape": [fixed_batch or "batch", 3, size, size]},
        "outputs": {"h": [fixed_batch or "batch", encoder.method.out_dim], "attention": "(batch, 1, P, P)"},
        "fixed_batch": int(fixed_batch) if fixed_batch else None,
        "quantize": quantize,
        "retrieval": encoder.retrieval,
        "torch_version": torch.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    write_json_atomic(meta_file, meta, indent=2)
    log(
        f"exported {onnx_file} ({onnx_file.stat().st_size / 1e6:.1f} MB, "
        f"{'int8 dynamic' if quantize else 'float32'}, batch {fixed_batch or 'dynamic'}) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return onnx_file


def export_problem(run_dir: str | Path, config: Any, onnx_file: str | Path | None = None) -> str | None:
    """Why the ONNX export of ``run_dir`` cannot be used (None: it is current).

    The export is current when its metadata exists, its fingerprint equals the run's (same
    weights file, bits, backbone, method, image size) and the ONNX file's SHA-256 is the
    recorded one.
    """
    default_onnx, default_meta = onnx_paths(run_dir)
    onnx_file = Path(onnx_file) if onnx_file else default_onnx
    meta_file = onnx_file.with_name(onnx_file.name + ".json") if onnx_file != default_onnx else default_meta
    if not onnx_file.is_file():
        return f"{onnx_file}: no ONNX export (run `mlrsir export --run {Path(run_dir)} --format onnx`)"
    if not meta_file.is_file():
        return f"{meta_file}: missing, the ONNX export cannot be checked against the run; export it again"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as exc:
        return f"{meta_file}: unreadable ({exc}); export it again"
    expected = model_fingerprint(config, Path(run_dir) / "model.safetensors")
    stored = meta.get("fingerprint") or {}
    diffs = [k for k in expected if json.dumps(stored.get(k)) != json.dumps(expected[k])]
    if diffs:
        return (
            f"{onnx_file}: stale export, made from another model ({', '.join(diffs)} differ); "
            f"export it again with `mlrsir export --run {Path(run_dir)} --format onnx`"
        )
    if meta.get("onnx_sha256") != file_sha256(onnx_file):
        return f"{onnx_file}: the file changed since it was exported (checksum differs); export it again"
    return None
