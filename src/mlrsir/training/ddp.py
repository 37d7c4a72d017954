"""Data-parallel training with ``torch.distributed`` (``mlrsir train --nproc N``, ``torchrun``).

How a step is split (the trainer calls the hooks of :class:`DistContext`; with one process
every hook is a no-op, so the single-process path is unchanged):

* every rank draws the same *global* batch from the seeded schedule
  (:mod:`mlrsir.training.batches`) and the same augmentation (views, dihedral transforms,
  colour jitter are drawn for the whole global batch), then keeps its disjoint share
  ``rows[rank::world_size]`` (:meth:`DistContext.shard`);
* each rank runs the network on its share only (the expensive part), then the head outputs
  of all ranks are gathered with the autograd-aware
  ``torch.distributed.nn.functional.all_gather`` and put back in global-batch order
  (:meth:`DistContext.gather_rows`), so every rank computes the *global* pairwise loss, the
  same number a single process computes on the whole batch;
* backward through that gather sums the output gradients of all ranks' (identical) losses,
  so each rank's parameter gradient is ``world_size`` times its rows' share of ``dL/dθ``;
  :meth:`DistContext.average_gradients` all-reduces (sum) and divides by ``world_size``,
  which gives exactly ``dL/dθ`` of the global batch (up to float summation order);
* codebook refits of the quantiser methods (DQN/DTQ) run on rank 0 and the method state is
  broadcast (:meth:`DistContext.broadcast_method`); only rank 0 writes the run directory
  (config, split, feature cache, checkpoints, final files); every rank resumes from the
  same checkpoint.

Known difference: with ``--finetune all`` on CPU, BatchNorm layers of the backbone use the
statistics of each rank's share (``SyncBatchNorm`` is GPU-only in PyTorch); on CUDA they
are converted to ``SyncBatchNorm``, which uses the global batch statistics.

Launch: ``mlrsir train ... --nproc N`` spawns ``N`` local processes (:func:`launch_local`);
``torchrun --nnodes M --nproc-per-node N -m mlrsir train ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` and
:func:`init_from_env` joins the group. Backend: NCCL when the device is CUDA, else gloo.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from mlrsir.localhost import free_port

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistContext:
    """This process's place in the process group (``world_size == 1``: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- batch sharding ----------------------------------------------------------------
    def shard(self, n: int) -> slice:
        """Rows of a global batch of ``n`` this rank computes: ``rank, rank + W, ...``."""
        return slice(self.rank, None, self.world_size)

    def gather_rows(self, local: torch.Tensor, n: int) -> torch.Tensor:
        """Outputs of every rank's share ``(n_r, D)`` -> the global batch ``(n, D)`` in the
        original row order; autograd-aware (the gradient flows back to each rank's rows)."""
        if not self.enabled:
            return local
        import torch.distributed as dist
        import torch.distributed.nn.functional as dist_nn

        # all_gather needs equal sizes: pad each share to ceil(n / W) rows
        per = -(-n // self.world_size)
        pad = per - local.shape[0]
        if pad:
            local = torch.cat([local, local.new_zeros((pad,) + tuple(local.shape[1:]))])
        parts = dist_nn.all_gather(local, group=dist.group.WORLD)
        stacked = torch.stack(parts, dim=1).reshape((per * self.world_size,) + tuple(local.shape[1:]))
        return stacked[:n]  # row r*... interleaved back: position i came from rank i % W

    # -- gradients and state ---------------------------------------------------------------
    def average_gradients(self, module: torch.nn.Module) -> None:
        """All-reduce (sum) the gradients in one flat buffer and divide by ``world_size``."""
        if not self.enabled:
            return
        import torch.distributed as dist

        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.world_size
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Parameters and buffers of rank 0 to every rank (identical start)."""
        if not self.enabled:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def prepare_model(self, model: torch.nn.Module, device: torch.device) -> None:
        """Identical start on every rank; on CUDA, BatchNorm layers become ``SyncBatchNorm``
        (in place: the model's root is not a BatchNorm layer)."""
        if not self.enabled:
            return
        if torch.device(device).type == "cuda":
            for name, child in list(model.named_children()):
                setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
        self.broadcast_module(model)

    def broadcast_object(self, obj: Any) -> Any:
        if not self.enabled:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def broadcast_method(self, method) -> None:
        """Method state (codebooks) of rank 0 to every rank."""
        if not self.enabled:
            return
        state = self.broadcast_object({k: torch.as_tensor(v).cpu() for k, v in method.state_dict().items()})
        if not self.is_main and state:
            method.load_state_dict(state)

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()


def current() -> DistContext:
    """The context of the initialised default process group (single process otherwise)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistContext(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        )
    return DistContext()


def env_world_size() -> int:
    """``WORLD_SIZE`` set by torchrun (1 when absent)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def backend_for(device: str) -> str:
    wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    return "nccl" if wants_cuda else "gloo"


def init_from_env(device: str = "auto") -> DistContext:
    """Join the process group described by torchrun's environment (no-op without it).

    On CUDA each process uses GPU ``LOCAL_RANK``.
    """
    import torch.distributed as dist

    if env_world_size() <= 1 or (dist.is_available() and dist.is_initialized()):
        return current()
    backend = backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    return current()


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _spawned(local_rank: int, nproc: int, port: int, threads: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(local_rank),
        LOCAL_RANK=str(local_rank),
        WORLD_SIZE=str(nproc),
        LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(threads)
    try:
        fn(*args)
    finally:
        shutdown()


def launch_local(nproc: int, fn: Callable, args: tuple = ()) -> None:
    """Run ``fn(*args)`` in ``nproc`` spawned processes forming one group on this machine
    (each gets torchrun's environment variables; ``fn`` calls :func:`init_from_env`).
    The CPU threads are shared out between the processes. Raises if any process fails."""
    import torch.multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // nproc)
    mp.spawn(_spawned, args=(nproc, free_port(), threads, fn, args), nprocs=nproc, join=True)
