"""One top-stage fine-tuning step on the CPU: the current code path beside PyTorch's default, fp32 beside bf16.

``mlrsir bench finetune-step [--batch 64] [--steps 10] [--threads 1] [--top 1|2|all]``
(also ``python -m mlrsir.bench.finetune_step``)

What is timed: the part of a ``--finetune top1|top2`` training step that runs per batch
(:meth:`MLRSIRNet.aggregate_from` on a cached trunk, CBAM, hash head, a scalar loss,
backward), for a 100x100 input (the UCM preset), in three variants measured in the same
process, interleaved round by round so that machine load hits them alike:

* ``default``: contiguous (NCHW) activations and ``F.adaptive_avg_pool2d`` in the fusion,
  what plain PyTorch code does (the code before this benchmark);
* ``channels_last``: the cached map fed channels-last, torch pooling;
* ``current``: channels-last activations and the fusion's matrix pooling
  (:func:`mlrsir.models.fusion.adaptive_avg_pool`), what the trainer does (fp32);
* ``bf16``: ``current`` under bfloat16 autocast with the depthwise convolutions in fp32
  (:func:`mlrsir.models.mixed_precision.bf16_autocast`), what the trainer does with
  ``--train-precision bf16`` (AVX-512 BF16 / AMX kernels where the CPU has them);
* ``bf16_plain``: ``current`` under plain ``torch.autocast("cpu", torch.bfloat16)`` (every
  convolution in bf16), the policy ``bf16`` was chosen against.

``--top all`` times the whole network instead (``--finetune all``: forward and backward of
every stage on a batch of images, backbone BatchNorm in training mode), ``current``,
``bf16`` and ``bf16_plain`` only.

Prints the median seconds per step of each variant, the speed-up against ``default`` and
``bf16`` against ``current`` (fp32), with the CPU's bf16 capabilities and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from unittest import mock

from mlrsir.bench.machine import load_average, load_sentence
from mlrsir.models import mixed_precision

if TYPE_CHECKING:
    import torch

    from mlrsir.models.mlrsir_net import MLRSIRNet

VARIANTS = ("default", "channels_last", "current", "bf16", "bf16_plain")
WHOLE_VARIANTS = ("current", "bf16", "bf16_plain")
"""Variants of ``--top all`` (the fusion's pooling variants are not the point there)."""


def _step_fn(model: MLRSIRNet, pooled: torch.Tensor, last: torch.Tensor, top: int) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model.head(model.aggregate_from(pooled, last, top))
        out.pow(2).mean().backward()

    return step


def _whole_step_fn(model: MLRSIRNet, images: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(images).float().pow(2).mean().backward()

    return step


def _precision_context(model: MLRSIRNet, variant: str) -> contextlib.AbstractContextManager:
    import torch  # noqa: PLC0415 (torch loads when the benchmark runs, not with the CLI)

    from mlrsir.models.mixed_precision import bf16_autocast  # noqa: PLC0415 (imports torch)

    if variant == "bf16":
        return bf16_autocast(model, "cpu")
    if variant == "bf16_plain":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def run(batch: int = 64, steps: int = 10, threads: int = 1, top: int | str = 1, image_size: int = 100) -> dict:
    """Median seconds per step of each variant (see the module docstring); ``top``: 1, 2 or ``"all"``."""
    import torch  # noqa: PLC0415 (torch loads when the benchmark runs, not with the CLI)

    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(batch, steps, threads, top, image_size)
    finally:
        torch.set_num_threads(threads_before)


def _run(batch: int, steps: int, threads: int, top: int | str, image_size: int) -> dict:
    load_before = load_average()
    if top == "all":
        times = _time_whole(batch, steps, image_size)
    else:
        times = _time_top(batch, steps, int(top), image_size)
    median = {v: statistics.median(t) for v, t in times.items()}
    result = {
        "batch": batch,
        "steps": steps,
        "threads": threads,
        "top": top,
        "image_size": image_size,
        "cpu_flags": mixed_precision.cpu_bf16_flags(),
        "load_average": load_before,
        "load_average_end": load_average(),
        "seconds_per_step": median,
        "bf16_speedup_vs_fp32": median["current"] / median["bf16"],
    }
    if "default" in median:
        result["speedup_vs_default"] = {v: median["default"] / median[v] for v in median}
    return result


def _time_whole(batch: int, steps: int, image_size: int) -> dict[str, list[float]]:
    import torch  # noqa: PLC0415 (torch loads when the benchmark runs, not with the CLI)

    from mlrsir.models.mlrsir_net import MLRSIRNet  # noqa: PLC0415 (imports torch)

    torch.manual_seed(0)
    model = MLRSIRNet(weights="none").train()
    images = torch.randn(batch, 3, image_size, image_size)
    times: dict[str, list[float]] = {v: [] for v in WHOLE_VARIANTS}
    for round_ in range(steps + 1):  # round 0 warms up
        for variant in WHOLE_VARIANTS:
            step = _whole_step_fn(model, images)
            start = time.perf_counter()
            with _precision_context(model, variant):
                step()
            if round_:
                times[variant].append(time.perf_counter() - start)
    return times


def _time_top(batch: int, steps: int, top: int, image_size: int) -> dict[str, list[float]]:
    import torch  # noqa: PLC0415 (torch loads when the benchmark runs, not with the CLI)
    import torch.nn.functional as F  # noqa: PLC0415, N812 (as above)

    from mlrsir.models import fusion  # noqa: PLC0415 (imports torch)
    from mlrsir.models.mlrsir_net import MLRSIRNet  # noqa: PLC0415 (imports torch)

    torch.manual_seed(0)
    model = MLRSIRNet(weights="none")
    model.backbone.eval()  # as in training: BatchNorm statistics frozen
    for p in model.backbone.parameters():
        p.requires_grad_(False)
    for p in model.top_parameters(top):
        p.requires_grad_(True)
    with torch.no_grad():
        pooled, last = model.frozen_trunk(torch.randn(batch, 3, image_size, image_size), top)
    inputs = {
        "default": last.contiguous(),
        "channels_last": last.contiguous(memory_format=torch.channels_last),
        "current": last.contiguous(memory_format=torch.channels_last),
    }
    inputs["bf16"] = inputs["bf16_plain"] = inputs["current"]
    torch_pool = mock.patch.object(fusion, "adaptive_avg_pool", F.adaptive_avg_pool2d)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(steps + 1):  # round 0 warms up
        for variant in VARIANTS:
            step = _step_fn(model, pooled, inputs[variant], top)
            start = time.perf_counter()
            with torch_pool if variant in ("default", "channels_last") else contextlib.nullcontext():
                with _precision_context(model, variant):
                    step()
            if round_:
                times[variant].append(time.perf_counter() - start)
    return times


def add_arguments(parser) -> None:
    """The benchmark's options (shared by ``mlrsir bench finetune-step`` and ``python -m``)."""
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--top", default="1", choices=("1", "2", "all"), help="trained stages: 1 or 2 (cached trunk) or all"
    )
    parser.add_argument("--json", action="store_true")


def register(sub) -> None:
    """``mlrsir bench finetune-step``."""
    p = sub.add_parser(
        "finetune-step", help="top-stage (or whole-network) training step: fp32 beside bf16, current code vs default"
    )
    add_arguments(p)
    p.set_defaults(func=run_args)


def run_args(args) -> int:
    """Run and print (text, or ``--json``)."""
    top = args.top if args.top == "all" else int(args.top)
    result = run(batch=args.batch, steps=args.steps, threads=args.threads, top=top)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    flags = ", ".join(result["cpu_flags"]) or "none found"
    print(
        f"top-{args.top} fine-tuning step, batch {args.batch}, {args.threads} thread(s), median of {args.steps} "
        f"(CPU bf16 flags: {flags}). {load_sentence(result['load_average'], result['load_average_end'])}:"
    )
    for v, s in result["seconds_per_step"].items():
        vs_default = result.get("speedup_vs_default", {}).get(v)
        extra = f"   {vs_default:.2f}x default" if vs_default is not None else ""
        print(f"  {v:14s} {s * 1000:8.1f} ms/step{extra}")
    print(f"  bf16 vs fp32 (current): {result['bf16_speedup_vs_fp32']:.2f}x (target >= 1.7x)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlrsir.bench.finetune_step", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
