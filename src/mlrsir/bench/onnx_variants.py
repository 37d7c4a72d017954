"""ONNX export variants against the PyTorch oracle: bit agreement and model-alone speed.

``python -m mlrsir.bench.onnx_variants --run RUN --root UCM_ROOT [--every 4]`` exports the
run's encoder four ways (ONNX Runtime basic graph optimisations, all optimisations, a fixed
batch of 64, int8 dynamic quantisation) into a temporary folder, encodes the same UCM images
(uint8 ``(N, 3, S, S)`` at the run's input size, every ``--every``-th image) with each and with
PyTorch, and prints one Markdown row per variant:

* bits agreeing: the fraction of code bits ``h > 0`` equal to PyTorch's;
* max |h| among disagreeing bits: how close to the threshold the disagreeing outputs were
  (the acceptance rule is >= 99.9 % agreement, disagreements only where |h| < 1e-3);
* images/s for the model alone at batch 64, all variants measured in the same run.

Variants that fail the acceptance rule must stay opt-in.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlrsir.data.cache import load_image_array
from mlrsir.data.registry import load_dataset
from mlrsir.inference.encoder import load_encoder
from mlrsir.inference.onnx_export import export_onnx
from mlrsir.inference.onnx_runtime import OnnxModel

AGREEMENT_MIN = 0.999
THRESHOLD_BAND = 1e-3


def _rate(fn: Callable[[], None], n: int, budget: float) -> float:
    """Images/s of ``fn`` (which encodes ``n`` images) over about ``budget`` seconds after a warm-up."""
    fn()
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        fn()
        done += n
    return done / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlrsir.bench.onnx_variants", description=__doc__.split("\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--root", default="../shared/data/ucm-multilabel")
    p.add_argument("--every", type=int, default=4, help="use every N-th UCM image (default 4: 525 images)")
    p.add_argument("--budget", type=float, default=3.0, help="seconds per speed measurement")
    args = p.parse_args(argv)

    import onnxruntime as ort
    import torch  # noqa: PLC0415 (torch only on this path)

    encoder = load_encoder(args.run, runtime="torch")
    size = int(encoder.config.image_size)
    images = load_image_array(load_dataset("ucm", args.root), size, progress=False)[:: args.every].copy()

    def torch_outputs(batch: np.ndarray) -> np.ndarray:
        return encoder.encode_uint8(torch.from_numpy(batch))[1]

    h_torch = np.concatenate([torch_outputs(images[i : i + 64]) for i in range(0, len(images), 64)])

    work = Path(tempfile.mkdtemp(prefix="mlrsir-onnx-variants-"))
    export_onnx(args.run, out=work / "plain.onnx", log=lambda m: None)
    export_onnx(args.run, out=work / "fixed64.onnx", fixed_batch=64, log=lambda m: None)
    export_onnx(args.run, out=work / "int8.onnx", quantize="int8", log=lambda m: None)

    def session(path: Path, level, fixed: int | None = None) -> OnnxModel:
        model = OnnxModel(path, fixed_batch=fixed)
        if level is not None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.graph_optimization_level = level
            model.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return model

    variants = {
        "ONNX, basic graph optimisations": session(work / "plain.onnx", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
        "ONNX, all graph optimisations (default)": session(work / "plain.onnx", None),
        "ONNX, fixed batch 64 + all optimisations": session(work / "fixed64.onnx", None, fixed=64),
        "ONNX, int8 dynamic quantisation": session(work / "int8.onnx", None),
    }
    speed_batch = images[:128]

    def torch_speed() -> None:
        for i in range(0, 128, 64):
            torch_outputs(speed_batch[i : i + 64])

    torch_rate = _rate(torch_speed, 128, args.budget)
    print(f"{len(images)} UCM images x {h_torch.shape[1]} bits = {h_torch.size} bits, input {size} px; ")
    print(f"model alone at batch 64, images/s, all rows measured in this run, torch threads {torch.get_num_threads()}")
    print()
    columns = ["variant", "bits agreeing", "disagreeing bits", "max abs(h) among them", "max abs(h_torch - h)"]
    print("| " + " | ".join(columns + ["accepted", "images/s", "x torch"]) + " |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    print(f"| PyTorch (oracle; BN folded, channels-last) | - | - | - | - | - | {torch_rate:.0f} | 1.00 |")
    for name, model in variants.items():
        h = np.concatenate([model.run(images[i : i + 64])[0] for i in range(0, len(images), 64)])
        differ = (h_torch > 0) != (h > 0)
        agreement = 1.0 - float(differ.mean())
        worst = float(np.abs(h_torch[differ]).max()) if differ.any() else 0.0
        accepted = agreement >= AGREEMENT_MIN and worst < THRESHOLD_BAND

        def onnx_speed(model: OnnxModel = model) -> None:
            for i in range(0, 128, 64):
                model.run(speed_batch[i : i + 64])

        rate = _rate(onnx_speed, 128, args.budget)
        print(
            f"| {name} | {agreement * 100:.4f} % | {int(differ.sum())} | {worst:.2e} | "
            f"{float(np.abs(h_torch - h).max()):.2e} | {'yes' if accepted else 'no'} | "
            f"{rate:.0f} | {rate / torch_rate:.2f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
