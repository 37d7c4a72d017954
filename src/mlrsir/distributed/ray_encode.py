"""Encoding image archives on Ray (``mlrsir index build|add --engine ray``).

Pipeline (Ray Data)::

    input paths (driver)
      -> decode in parallel (stateless Ray tasks; ``inference.encoder.decode_for_encoding``,
         the very function ``Encoder.encode_paths`` decodes with: ``read_rgb`` with the
         ``target_size`` hint, the cache's resize, the file's own width and height)
      -> encode with an actor pool (``map_batches`` with :class:`EncodeActor`: each actor
         loads the run once, ``num_gpus`` per actor when asked; Ray restarts a killed actor
         and retries its batch: Ray Data's defaults (checked in Ray 2.60) are
         ``max_restarts=-1``, ``max_task_retries=-1`` for actors and ``max_retries=-1`` for
         tasks, so they are not passed as the deprecated ``**ray_remote_args``)
      -> code shards streamed back to the driver (progress bar there)
      -> ONE transactional ``CodeIndex.add`` on the driver, rows in input order.

The index stays one SQLite file written only by the driver, through the same
``CodeIndex.add`` as the in-process engine (:func:`mlrsir.index.ingest.encode_into_index`),
with the same record fields, so both engines give the same rows and the same codes
(same decode functions, same BatchNorm-folded model). Unreadable inputs are reported by
name (``skipped PATH: ...``) and skipped; with ``strict`` the job stops before writing.

Ray is optional (``pip install 'mlrsir[ray]'``). Without ``address`` a local Ray is
started with ``num_cpus`` and shut down afterwards; with it, the driver joins that cluster
(workers must see the image paths and the run directory at the same paths, e.g. a shared
file system). The dashboard and usage statistics are off; nothing is sent anywhere.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.errors import ConfigError, DataError

INSTALL_HINT = "pip install 'mlrsir[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """How to run: cluster address (None = start a local Ray), actors, resources."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    batch_size: int = 64
    runtime: str = "auto"

    def check(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise ConfigError(f"--cpus-per-worker must be > 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise ConfigError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")


def require_ray():
    """Import Ray (and Ray Data) or raise a :class:`ConfigError` saying how to install it."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError(f"--engine ray needs Ray Data, which is not installed: {INSTALL_HINT}") from None
    return ray


class _DropTokenAuthEnabledNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Token authentication is enabled")


def quiet_token_auth_notice() -> None:
    """Drop Ray's "Token authentication is enabled for this Ray cluster" notice, printed by
    every new local ``ray.init()`` (token auth stays on, Ray's default; its warning about a
    cluster *without* authentication is kept). Setting ``RAY_AUTH_MODE=token`` would also
    silence it, but only when set before Ray is first imported, so this filter instead."""
    logger = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if not any(isinstance(f, _DropTokenAuthEnabledNotice) for f in logger.filters):
        logger.addFilter(_DropTokenAuthEnabledNotice())


@contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Join ``options.address``, or start a local Ray sized for the actors and stop it
    afterwards; an already initialised Ray (e.g. a test's shared session) is reused as is."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if options.address:
        ray.init(address=options.address, include_dashboard=False, log_to_driver=False)
    else:
        # CPUs for the encoder actors plus one decode task per actor (logical CPUs: Ray
        # schedules by them; the decode tasks would starve behind the actors otherwise)
        cpus = int(np.ceil(options.workers * options.cpus_per_worker)) + options.workers
        quiet_token_auth_notice()
        ray.init(num_cpus=cpus, num_gpus=None, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


# -- stages (run on Ray workers) --------------------------------------------------------
def decode_batch(batch: dict[str, np.ndarray], image_size: int) -> dict[str, np.ndarray]:
    """``{"pos", "path"}`` -> adds ``image`` ``(B, 3, S, S)`` uint8 (zeros where
    unreadable), ``ok``, ``error``, ``width``, ``height``."""
    from mlrsir.inference.encoder import decode_for_encoding

    paths = [str(p) for p in batch["path"]]
    n = len(paths)
    images = np.zeros((n, 3, image_size, image_size), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    errors = np.array([""] * n, dtype=object)
    width = np.zeros(n, dtype=np.int64)
    height = np.zeros(n, dtype=np.int64)
    for i, path in enumerate(paths):
        try:
            images[i], (width[i], height[i]) = decode_for_encoding(Path(path), image_size)
            ok[i] = True
        except DataError as exc:
            errors[i] = str(exc)
    return {
        "pos": np.asarray(batch["pos"]),
        "path": np.asarray(paths, dtype=object),
        "image": images,
        "ok": ok,
        "error": errors,
        "width": width,
        "height": height,
    }


class EncodeActor:
    """Holds one loaded encoder; ``__call__`` encodes a decoded batch (readable rows)."""

    def __init__(self, run_dir: str, device: str = "cpu", runtime: str = "auto", hooks: dict | None = None):
        import torch

        from mlrsir.index.ingest import load_encoder

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
        self.encoder = load_encoder(run_dir, runtime=runtime) if runtime != "auto" else load_encoder(run_dir)
        if device != "cpu":
            self.encoder.model.to(device)
            self.encoder.fast_model.to(device)
            self.encoder.device = torch.device(device)
        self.hooks = dict(hooks or {})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        pid_dir = self.hooks.get("pid_dir")  # tests: which process encodes, to kill it
        if pid_dir:
            Path(pid_dir, f"{os.getpid()}.pid").write_text(str(os.getpid()))
        if self.hooks.get("delay_s"):
            time.sleep(float(self.hooks["delay_s"]))
        ok = np.asarray(batch["ok"], dtype=bool)
        codes = np.zeros((len(ok), self.encoder.bits), dtype=np.uint8)
        if ok.any():
            c, _outputs = self.encoder.encode_uint8(torch.from_numpy(np.ascontiguousarray(batch["image"][ok])))
            codes[ok] = c
        return {
            "pos": batch["pos"],
            "path": batch["path"],
            "ok": ok,
            "error": batch["error"],
            "width": batch["width"],
            "height": batch["height"],
            "code": codes,
            "pid": np.full(len(ok), os.getpid(), dtype=np.int64),
        }


# -- driver -----------------------------------------------------------------------------
def encode_paths_ray(
    run_dir: str | Path,
    paths: list[Path],
    image_size: int,
    bits: int,
    options: RayOptions,
    *,
    progress: bool = True,
    hooks: dict | None = None,
) -> dict[str, np.ndarray]:
    """Run the pipeline over ``paths`` (in an active Ray session) and return arrays in
    input order: ``code (N, bits)``, ``ok``, ``error``, ``width``, ``height``, ``pids``
    (the actor processes that encoded). Each input appears exactly once."""
    import ray.data
    from tqdm import tqdm

    n = len(paths)
    # Ray Data's hint that a small job gave an operator fewer input bundles than its pool
    # size (it bundles small blocks up to ``batch_size`` rows): harmless here, and raised
    # in the executor's thread, so filtered by message (only for these two operators)
    warnings.filterwarnings(
        "ignore",
        message=r"The (maximum|minimum) number of concurrent (tasks|actors) for "
        r"'MapBatches\((decode_batch|EncodeActor)\)'",
        category=UserWarning,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the driver's own bar below
    ctx.print_on_execution_start = False
    decode_parallelism = options.workers
    ds = ray.data.from_items(
        [{"pos": i, "path": str(p)} for i, p in enumerate(paths)],
        override_num_blocks=max(1, min(n, 4 * decode_parallelism, -(-n // options.batch_size))),
    )
    ds = ds.map_batches(
        decode_batch,
        fn_kwargs={"image_size": int(image_size)},
        batch_size=options.batch_size,
        num_cpus=1,
        compute=ray.data.TaskPoolStrategy(size=decode_parallelism),
    )
    ds = ds.map_batches(
        EncodeActor,
        fn_constructor_kwargs={
            "run_dir": str(run_dir),
            "device": "cuda" if options.gpus_per_worker > 0 else "cpu",
            "runtime": options.runtime,
            "hooks": hooks,
        },
        batch_size=options.batch_size,
        compute=ray.data.ActorPoolStrategy(size=options.workers),
        num_cpus=options.cpus_per_worker,
        num_gpus=options.gpus_per_worker or None,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(max(1, int(options.cpus_per_worker)))}},
    )
    code = np.zeros((n, bits), dtype=np.uint8)
    ok = np.zeros(n, dtype=bool)
    seen = np.zeros(n, dtype=bool)
    error = [""] * n
    width = np.zeros(n, dtype=np.int64)
    height = np.zeros(n, dtype=np.int64)
    pids: set[int] = set()
    bar = tqdm(total=n, unit="img", desc="encoding (ray)", disable=not progress, dynamic_ncols=True)
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            pos = np.asarray(batch["pos"], dtype=np.int64)
            fresh = ~seen[pos]  # a retried batch never counts twice
            pos_new = pos[fresh]
            seen[pos_new] = True
            code[pos_new] = np.asarray(batch["code"])[fresh]
            ok[pos_new] = np.asarray(batch["ok"], dtype=bool)[fresh]
            width[pos_new] = np.asarray(batch["width"])[fresh]
            height[pos_new] = np.asarray(batch["height"])[fresh]
            for p, e in zip(pos_new, np.asarray(batch["error"], dtype=object)[fresh]):
                error[int(p)] = str(e)
            pids.update(int(x) for x in np.asarray(batch["pid"]))
            bar.update(int(fresh.sum()))
    finally:
        bar.close()
    if not seen.all():
        missing = [str(paths[i]) for i in np.flatnonzero(~seen)[:3]]
        raise RuntimeError(f"ray pipeline returned no result for {int((~seen).sum())} inputs, e.g. {missing}")
    return {
        "code": code,
        "ok": ok,
        "error": np.array(error, dtype=object),
        "width": width,
        "height": height,
        "pids": pids,
    }


def encode_into_index_ray(
    index,
    run_dir: str | Path,
    paths: list[Path],
    *,
    image_size: int,
    options: RayOptions,
    labels_by_name=None,
    strict: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = print,
    hooks: dict | None = None,
) -> dict:
    """The Ray counterpart of :func:`mlrsir.index.ingest.encode_into_index` (same summary
    dict, plus ``workers``): encode ``paths`` not yet in ``index`` on Ray and add them in one
    transaction on the driver."""
    from mlrsir.index.ingest import labels_for_path

    options.check()
    present = index.ids_for_paths([str(p) for p in paths])
    todo = [p for p in paths if str(p) not in present]
    start = time.perf_counter()
    failed: list[tuple[str, str]] = []
    added = unlabelled = 0
    pids: set[int] = set()
    if todo:
        with ray_session(options):
            result = encode_paths_ray(run_dir, todo, image_size, index.bits, options, progress=progress, hooks=hooks)
        pids = result["pids"]
        records, keep = [], []
        for i, path in enumerate(todo):
            if not result["ok"][i]:
                message = str(result["error"][i])
                if strict:
                    raise DataError(message)
                failed.append((str(path), message))
                log(f"skipped {message}" if message.startswith(str(path)) else f"skipped {path}: {message}")
                continue
            labels = labels_for_path(path, labels_by_name)
            unlabelled += labels_by_name is not None and labels is None
            records.append(
                {
                    "path": str(path),
                    "width": int(result["width"][i]),
                    "height": int(result["height"][i]),
                    "labels": labels,
                }
            )
            keep.append(i)
        if records:
            index.add(records, result["code"][keep])  # one transaction, driver only
            added = len(records)
    seconds = time.perf_counter() - start
    return {
        "added": added,
        "already_present": len(paths) - len(todo),
        "failed": failed,
        "unlabelled": int(unlabelled),
        "seconds": seconds,
        "images_per_s": (len(todo) / seconds) if seconds > 0 and todo else 0.0,
        "worker_pids": sorted(pids),
    }


# -- command-line hooks (``mlrsir index build|add``) --------------------------------------
def engine_type(text: str) -> str:
    """argparse type of ``--engine``: ``local`` or ``ray`` (refused early when Ray is absent)."""
    import argparse

    if text not in ("local", "ray"):
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from 'local', 'ray')")
    if text == "ray":
        try:
            require_ray()
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_engine_arguments(parser) -> None:
    """``--engine local|ray`` and the Ray options of ``index build`` / ``index add``."""
    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        type=engine_type,
        default="local",
        help="local: encode in this process (default); ray: a Ray Data pipeline (decode tasks + encoder "
        f"actors) with one merge into the index here ({INSTALL_HINT})",
    )
    group.add_argument("--ray-address", help="join this Ray cluster (default: start a local Ray for the command)")
    group.add_argument("--workers", type=int, default=2, help="encoder actors (default 2)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per encoder actor (default 1)")
    group.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per encoder actor (default 0)")


def fill_with_args(index, encoder, paths: list[Path], args, labels_by_name=None) -> dict:
    """:func:`encode_into_index_ray` configured from the parsed ``index build|add`` options."""
    options = RayOptions(
        address=args.ray_address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        runtime=getattr(args, "runtime", "auto"),
    )
    return encode_into_index_ray(
        index,
        encoder.run_dir,
        paths,
        image_size=encoder.image_size,
        options=options,
        labels_by_name=labels_by_name,
        strict=args.strict,
        progress=not args.quiet,
    )
