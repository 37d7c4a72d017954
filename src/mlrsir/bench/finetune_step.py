"""One top-stage fine-tuning step on the CPU, the current code path beside PyTorch's default.

``python -m mlrsir.bench.finetune_step [--batch 64] [--steps 10] [--threads 1] [--top 1]``

What is timed: the part of a ``--finetune top1|top2`` training step that runs per batch
(:meth:`MLRSIRNet.aggregate_from` on a cached trunk, CBAM, hash head, a scalar loss,
backward), for a 100x100 input (the UCM preset), in three variants measured in the same
process, interleaved round by round so that machine load hits them alike:

* ``default``: contiguous (NCHW) activations and ``F.adaptive_avg_pool2d`` in the fusion,
  what plain PyTorch code does (the code before this benchmark);
* ``channels_last``: the cached map fed channels-last, torch pooling;
* ``current``: channels-last activations and the fusion's matrix pooling
  (:func:`mlrsir.models.fusion.adaptive_avg_pool`), what the trainer does.

Prints the median seconds per step of each variant and the speed-up against ``default``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from unittest import mock

import torch
import torch.nn.functional as F

from mlrsir.models import fusion
from mlrsir.models.mlrsir_net import MLRSIRNet

VARIANTS = ("default", "channels_last", "current")


def _step_fn(model: MLRSIRNet, pooled: torch.Tensor, last: torch.Tensor, top: int) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        out = model.head(model.aggregate_from(pooled, last, top))
        out.pow(2).mean().backward()

    return step


def run(batch: int = 64, steps: int = 10, threads: int = 1, top: int = 1, image_size: int = 100) -> dict:
    """Median seconds per step of each variant (see the module docstring)."""
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(batch, steps, threads, top, image_size)
    finally:
        torch.set_num_threads(threads_before)


def _run(batch: int, steps: int, threads: int, top: int, image_size: int) -> dict:
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
    torch_pool = mock.patch.object(fusion, "adaptive_avg_pool", F.adaptive_avg_pool2d)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for round_ in range(steps + 1):  # round 0 warms up
        for variant in VARIANTS:
            step = _step_fn(model, pooled, inputs[variant], top)
            start = time.perf_counter()
            if variant == "current":
                step()
            else:
                with torch_pool:
                    step()
            if round_:
                times[variant].append(time.perf_counter() - start)
    median = {v: statistics.median(t) for v, t in times.items()}
    return {
        "batch": batch,
        "steps": steps,
        "threads": threads,
        "top": top,
        "image_size": image_size,
        "seconds_per_step": median,
        "speedup_vs_default": {v: median["default"] / median[v] for v in VARIANTS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlrsir.bench.finetune_step", description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--top", type=int, default=1, choices=(1, 2))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(batch=args.batch, steps=args.steps, threads=args.threads, top=args.top)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"top-{args.top} fine-tuning step, batch {args.batch}, {args.threads} thread(s), median of {args.steps}:")
    for v in VARIANTS:
        s = result["seconds_per_step"][v]
        print(f"  {v:14s} {s * 1000:8.1f} ms/step   {result['speedup_vs_default'][v]:.2f}x default")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
