"""``--engine`` and the Ray options of ``mlrsir index build|add``, turned into typed options
(:class:`mlrsir.ingest.ray_engine.RayOptions`) here, so no argparse namespace reaches the
ingest pipeline."""

from __future__ import annotations

import argparse

from mlrsir.errors import ConfigError

INSTALL_HINT = "pip install 'mlrsir[ray]'"


def engine_type(text: str) -> str:
    """argparse type of ``--engine``: ``local`` or ``ray`` (refused early when Ray is absent)."""
    if text not in ("local", "ray"):
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from 'local', 'ray')")
    if text == "ray":
        from mlrsir.ingest.ray_engine import require_ray

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
        f"actors) with the merge into the index here ({INSTALL_HINT})",
    )
    group.add_argument("--ray-address", help="join this Ray cluster (default: start a local Ray for the command)")
    group.add_argument("--workers", type=int, default=2, help="encoder actors (default 2)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per encoder actor (default 1)")
    group.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per encoder actor (default 0)")


def ray_options(args):
    """The :class:`~mlrsir.ingest.ray_engine.RayOptions` of the parsed ``index build|add`` options."""
    from mlrsir.ingest.ray_engine import RayOptions

    return RayOptions(
        address=args.ray_address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        batch_size=args.batch_size,
        runtime=args.runtime,
        precision=getattr(args, "precision", "fp32"),
    )
