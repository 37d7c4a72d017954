"""``mlrsir export``: the encoder of a finished run as ONNX (``RUN/model.onnx`` + ``.json``).

``encode``, ``index build/add``, ``search`` and ``serve`` then run it with ONNX Runtime or
OpenVINO (``--runtime auto``, the default, picks the fastest whose codes equalled PyTorch's in
the check recorded here, while the export matches the run's weights); see
:mod:`mlrsir.inference.onnx_export` and :mod:`mlrsir.inference.runtime_check`.

``--int8`` then quantizes the new export with NNCF (calibrated on the run's training images)
into ``RUN/model.int8.xml`` for ``--runtime openvino --precision int8`` and prints its gates
(bits and codes equal to fp32's, the change in the run's evaluation mAP); see
:mod:`mlrsir.inference.int8_quantize`.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("export", help="export a run's encoder as ONNX (RUN/model.onnx) for fast CPU inference")
    p.add_argument("--run", required=True, help="a finished run directory")
    p.add_argument("--format", choices=["onnx"], default="onnx", help="export format (default onnx)")
    p.add_argument("--out", help="ONNX file to write (default RUN/model.onnx, the one the runtimes look for)")
    p.add_argument("--fixed-batch", type=int, help="export with this fixed batch size (default: dynamic batch)")
    p.add_argument("--quantize", choices=["int8"], help="dynamic int8 quantization (check the codes agree first)")
    p.add_argument(
        "--int8",
        action="store_true",
        help="also write RUN/model.int8.xml (NNCF post-training quantization, calibrated on the run's training "
        "images; --precision int8) and print its gates",
    )
    p.add_argument("--root", default=None, help="with --int8: dataset folder (default: the one the run was trained on)")
    p.add_argument(
        "--calibration-images", type=int, default=300, help="with --int8: training images to calibrate on (default 300)"
    )
    p.add_argument(
        "--int8-head",
        choices=["fp32", "int8"],
        default="fp32",
        help="with --int8: the hash head's precision (default fp32: the layers whose sign is the code)",
    )
    p.add_argument(
        "--no-check",
        action="store_true",
        help="skip comparing each installed runtime's codes with PyTorch's (the record `--runtime auto` reads)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlrsir.errors import ConfigError
    from mlrsir.inference.onnx_export import export_onnx

    if args.fixed_batch is not None and args.fixed_batch < 1:
        raise ConfigError(f"--fixed-batch must be >= 1, got {args.fixed_batch}")
    if args.int8 and (args.out or args.quantize or args.fixed_batch):
        raise ConfigError(
            "--int8 quantizes the dynamic-batch RUN/model.onnx: it cannot be combined with --out, --quantize "
            "or --fixed-batch"
        )
    path = export_onnx(args.run, out=args.out, fixed_batch=args.fixed_batch, quantize=args.quantize)
    if not args.no_check:
        _check(args, path)
    if args.int8:
        from mlrsir.inference.int8_quantize import build_int8, gate_lines

        record = build_int8(
            args.run,
            root=args.root,
            calibration_images=args.calibration_images,
            keep_head_fp32=args.int8_head == "fp32",
        )
        for line in gate_lines(record):
            print(line)
    return 0


def _check(args: argparse.Namespace, path) -> None:
    """The export check (``--runtime auto``'s record), printed."""
    from pathlib import Path

    from mlrsir.inference.onnx_export import onnx_paths

    if Path(path).resolve() != onnx_paths(args.run)[0].resolve():  # not the file the runtimes load
        share, worst = check_export(args.run, path)
        print(f"check: {share * 100:.3f} % of code bits agree with PyTorch on 64 random images (max |h| {worst:.1e})")
        return
    from mlrsir.inference.runtime_check import check_runtimes

    record = check_runtimes(args.run)
    for runtime, row in record["runtimes"].items():
        print(
            f"check {runtime} fp32: {row['bits_agree'] * 100:.3f} % of code bits and "
            f"{row['codes_identical'] * 100:.1f} % of codes equal PyTorch's on {record['images']} random images "
            f"(max |h| {row['max_abs_h_disagreeing']:.1e}), {row['images_per_s']:.0f} images/s"
        )
    if not record["runtimes"]:
        print("check: no export runtime installed (pip install 'mlrsir[onnx]' or 'mlrsir[openvino]')")


def check_export(run_dir, onnx_file, n: int = 64, seed: int = 0) -> tuple[float, float]:
    """Codes of ``n`` random images from the export vs the PyTorch model:
    ``(share of agreeing bits, max |h| among disagreeing bits)``."""
    import json
    from pathlib import Path

    import numpy as np
    import torch

    from mlrsir.inference.encoder import load_encoder
    from mlrsir.inference.onnx_runtime import OnnxModel

    enc = load_encoder(run_dir, runtime="torch")
    size = enc.image_size
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 3, size, size), dtype=np.uint8)
    _, h_t = enc.encode_uint8(torch.from_numpy(images))
    meta = json.loads(Path(str(onnx_file) + ".json").read_text())
    h_o, _ = OnnxModel(onnx_file, fixed_batch=meta.get("fixed_batch")).run(images)
    differ = (h_t > 0) != (h_o > 0)
    return 1.0 - float(differ.mean()), float(np.abs(h_t[differ]).max()) if differ.any() else 0.0
