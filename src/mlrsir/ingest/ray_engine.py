"""The Ray engine: encoding image files on Ray (``mlrsir index build|add --engine ray``).

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
      -> code shards streamed back to the driver, handed to the fill loop chunk by chunk
         in input order (:class:`RayEngine`)
      -> the fill loop's atomic ``CodeIndex.add`` per chunk on the driver
         (:func:`mlrsir.ingest.fill.fill_index`, the same rule as the in-process engine).

The index stays one SQLite file written only by the driver, through the same fill loop
as the in-process engine (:class:`mlrsir.ingest.engines.LocalEngine`), with the same
record fields, so both engines give the same rows and the same codes (same decode
functions, same BatchNorm-folded model). Unreadable inputs are reported by name
(``skipped PATH: ...``) and skipped; with ``strict`` the fill stops at the first.

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
from tqdm import tqdm

from mlrsir.errors import ConfigError, DataError
from mlrsir.inference.encoder import decode_for_encoding
from mlrsir.ingest.engines import Encoded, check_item_files, load_hashing_encoder
from mlrsir.ingest.fill import fill_index
from mlrsir.sources import ImageFileSource

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
    precision: str = "fp32"

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

    def __init__(
        self,
        run_dir: str,
        device: str = "cpu",
        runtime: str = "auto",
        hooks: dict | None = None,
        precision: str = "fp32",
    ):
        import torch  # noqa: PLC0415 (torch only on this path)

        torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
        self.encoder = load_hashing_encoder(run_dir, runtime=runtime, precision=precision)
        if device != "cpu":
            self.encoder.model.to(device)
            self.encoder.fast_model.to(device)
            self.encoder.device = torch.device(device)
        self.hooks = dict(hooks or {})

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch  # noqa: PLC0415 (torch only on this path)

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
def _dataset(run_dir, paths: list, image_size: int, options: RayOptions, hooks: dict | None):
    """The Ray Data pipeline over ``paths`` (decode tasks, then encoder actors)."""
    import ray.data

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
    ctx.enable_progress_bars = False  # the driver's own bar
    ctx.print_on_execution_start = False
    decode_parallelism = options.workers
    ds: Any = ray.data.from_items(
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
    return ds.map_batches(
        EncodeActor,
        fn_constructor_kwargs={
            "run_dir": str(run_dir),
            "device": "cuda" if options.gpus_per_worker > 0 else "cpu",
            "runtime": options.runtime,
            "precision": options.precision,
            "hooks": hooks,
        },
        batch_size=options.batch_size,
        compute=ray.data.ActorPoolStrategy(size=options.workers),
        num_cpus=options.cpus_per_worker,
        num_gpus=options.gpus_per_worker or None,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": str(max(1, int(options.cpus_per_worker)))}},
    )


class _Results:
    """Per-input results gathered from the pipeline; a retried batch never counts twice."""

    def __init__(self, n: int, bits: int):
        self.code = np.zeros((n, bits), dtype=np.uint8)
        self.ok = np.zeros(n, dtype=bool)
        self.seen = np.zeros(n, dtype=bool)
        self.error = [""] * n
        self.width = np.zeros(n, dtype=np.int64)
        self.height = np.zeros(n, dtype=np.int64)
        self.pids: set[int] = set()

    def take(self, batch) -> int:
        pos = np.asarray(batch["pos"], dtype=np.int64)
        fresh = ~self.seen[pos]
        pos_new = pos[fresh]
        self.seen[pos_new] = True
        self.code[pos_new] = np.asarray(batch["code"])[fresh]
        self.ok[pos_new] = np.asarray(batch["ok"], dtype=bool)[fresh]
        self.width[pos_new] = np.asarray(batch["width"])[fresh]
        self.height[pos_new] = np.asarray(batch["height"])[fresh]
        for p, e in zip(pos_new, np.asarray(batch["error"], dtype=object)[fresh]):
            self.error[int(p)] = str(e)
        self.pids.update(int(x) for x in np.asarray(batch["pid"]))
        return int(fresh.sum())

    def check_complete(self, paths) -> None:
        if not self.seen.all():
            missing = [str(paths[i]) for i in np.flatnonzero(~self.seen)[:3]]
            raise RuntimeError(f"ray pipeline returned no result for {int((~self.seen).sum())} inputs, e.g. {missing}")


def _run(run_dir, paths, image_size, bits, options, hooks, progress) -> _Results:
    """Run the pipeline over ``paths`` (in an active Ray session)."""

    results = _Results(len(paths), bits)
    ds = _dataset(run_dir, paths, image_size, options, hooks)
    bar = tqdm(total=len(paths), unit="img", desc="encoding (ray)", disable=not progress, dynamic_ncols=True)
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            bar.update(results.take(batch))
    finally:
        bar.close()
    results.check_complete(paths)
    return results


def encode_paths_ray(
    run_dir: str | Path,
    paths: list[Path],
    image_size: int,
    bits: int,
    options: RayOptions,
    *,
    progress: bool = True,
    hooks: dict | None = None,
) -> dict[str, Any]:
    """Run the pipeline over ``paths`` (in an active Ray session) and return arrays in
    input order: ``code (N, bits)``, ``ok``, ``error``, ``width``, ``height``, ``pids``
    (the actor processes that encoded). Each input appears exactly once."""
    r = _run(run_dir, list(paths), image_size, bits, options, hooks, progress)
    return {
        "code": r.code,
        "ok": r.ok,
        "error": np.array(r.error, dtype=object),
        "width": r.width,
        "height": r.height,
        "pids": r.pids,
    }


class RayEngine:
    """Encode image-file items on Ray (module doc): all chunks in one Ray job (actors start
    once), then handed back in input order for the fill loop to add chunk by chunk.

    Args:
        run_dir: the run every actor loads.
        image_size: the run's input size (px).
        bits: code length.
        options: :class:`RayOptions` (``options.batch_size`` images per Ray batch).
        progress: show the driver's bar.
        hooks: test hooks of :class:`EncodeActor` (``pid_dir``, ``delay_s``).
    """

    def __init__(self, run_dir, image_size: int, bits: int, options: RayOptions, *, progress=True, hooks=None):
        options.check()
        self.run_dir, self.image_size, self.bits = str(run_dir), int(image_size), int(bits)
        self.options, self.progress, self.hooks = options, progress, hooks
        self.pids: set[int] = set()

    def encode_chunks(self, chunks) -> Iterator[tuple[list, Any]]:

        chunks = [c for c in chunks if c]
        for chunk in chunks:
            check_item_files(chunk)
        paths = [str(item.file) for chunk in chunks for item in chunk]
        if not paths:
            return
        bounds = np.cumsum([0] + [len(c) for c in chunks])
        with ray_session(self.options):
            # the pipeline runs to its end before the fill loop writes (the driver's index
            # connection is not used from Ray's threads); chunks are then added in order
            results = _run(self.run_dir, paths, self.image_size, self.bits, self.options, self.hooks, self.progress)
        self.pids |= results.pids
        for k, chunk in enumerate(chunks):
            a, b = int(bounds[k]), int(bounds[k + 1])
            errors = [(paths[i], results.error[i]) for i in range(a, b) if not results.ok[i]]
            sizes = [(int(results.width[i]), int(results.height[i])) if results.ok[i] else None for i in range(a, b)]
            yield chunk, Encoded(results.code[a:b], results.ok[a:b].copy(), errors, sizes)

    def extra_summary(self) -> dict:
        return {"worker_pids": sorted(self.pids)}


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
    """:func:`mlrsir.index.ingest.encode_into_index` on Ray (same summary dict, plus
    ``worker_pids``): the fill loop with an :class:`~mlrsir.sources.ImageFileSource`
    and a :class:`RayEngine`."""

    engine = RayEngine(run_dir, image_size, index.bits, options, progress=progress, hooks=hooks)
    source = ImageFileSource(paths, labels_by_name)
    report = fill_index(index, source, engine, batch_size=options.batch_size, strict=strict, progress=False, log=log)
    return {**source.summary(report), **report.engine}
