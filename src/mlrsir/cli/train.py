"""``mlrsir train``: train MLRSIR-NET (or a baseline) and evaluate it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``benchmark`` (``None`` = keep the preset's value)."""
    from mlrsir.data.registry import DATASETS, DEFAULT_DATASET  # light (no torch)

    p.add_argument("--dataset", default=None, help=f"{', '.join(DATASETS)} (default {DEFAULT_DATASET})")
    p.add_argument("--root", default=None, help="dataset folder (e.g. ../shared/data/ucm-multilabel)")
    p.add_argument(
        "--bands",
        default=None,
        help="multispectral datasets (bigearthnet): rgb (default), all (12 bands) or a list such as "
        "B02,B03,B04,B08 (must hold B02, B03, B04); 8-bit RGB datasets: rgb only",
    )
    p.add_argument("--preset", default="default", help="default (validation-chosen) or paper (the paper's exact setup)")
    # names not imported from mlrsir.methods.registry: that imports torch (keep --help fast);
    # an unknown name is refused by resolve_config with the registry's list
    p.add_argument("--method", default=None, help="mlrsir (default), dhn, dch, dqn, dtq")
    p.add_argument("--backbone", default=None, help="efficientnet_lite0 (default, offline), resnet50, vgg16")
    p.add_argument("--weights", default=None, choices=["imagenet", "none"], help="backbone initialisation")
    p.add_argument(
        "--finetune",
        default=None,
        choices=["none", "top1", "top2", "all"],
        help="none: frozen backbone on cached features (fast); top1/top2: also train the top 1 or 2 backbone "
        "stages (lower stages cached, CPU-friendly); all: fine-tune the whole network (meant for a GPU)",
    )
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--backbone-lr", type=float, default=None)
    p.add_argument("--optimizer", default=None, choices=["adam", "sgd"])
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument("--no-cbam", action="store_true", help="ablation: no CBAM attention")
    p.add_argument("--single-level", action="store_true", help="ablation: deepest stage only")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--pool-size", type=int, default=None)
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="method hyperparameter, e.g. --param pairwise=likelihood --param quant_weight=0.1",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="seed of the train/test split (mlrsir train: 0 unless given, the same split for every --seed; "
        "mlrsir benchmark: each run's own seed unless given)",
    )
    p.add_argument(
        "--protocol",
        default=None,
        choices=["paper", "unseen-scenes"],
        help="paper: 70/30 of every scene (default); unseen-scenes: train on 15 of the 21 scene classes, "
        "query and search among the images of the other 6 (drawn from the split seed, saved in split.json)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="bit-for-bit repeatable training given the seed: deterministic torch kernels, one CPU thread (slower)",
    )
    p.add_argument(
        "--train-precision",
        default=None,
        choices=["fp32", "bf16"],
        help="fp32 (default) or bf16: the training forward pass under bfloat16 autocast (AVX-512 BF16 / AMX); "
        "evaluation and the saved model stay fp32 (docs/runtimes.md)",
    )
    p.add_argument(
        "--eval-split",
        default=None,
        choices=["test", "val"],
        help="test: the paper's protocol; val: train on train only, query the validation part",
    )
    p.add_argument(
        "--supervision",
        default=None,
        choices=["full", "none", "partial"],
        help="full (default): every training label; none: images only (--label-free-objective; labels used "
        "for evaluation only); partial: labels on a stratified --label-fraction of the training images",
    )
    p.add_argument(
        "--label-free-objective",
        default=None,
        choices=["contrastive", "neighbours"],
        help="with --supervision none/partial: neighbours (codes fitted to the similarity of the frozen "
        "backbone's features, averaged over --neighbour-k nearest images) or contrastive (NT-Xent on two "
        "dihedral views); default chosen on validation",
    )
    p.add_argument(
        "--neighbour-k",
        type=int,
        default=None,
        help="with --label-free-objective neighbours: images averaged per training image (1: itself alone); "
        "default chosen on validation",
    )
    p.add_argument("--label-fraction", type=float, default=None, help="with --supervision partial: e.g. 0.1")
    p.add_argument(
        "--labelled-batch-size",
        type=int,
        default=None,
        help="with --supervision partial: images drawn from the labelled subset each step for the supervised "
        "loss (0: only the labelled images of the random batch); default chosen on validation",
    )
    p.add_argument(
        "--ssl-weight",
        type=float,
        default=None,
        help="with --supervision partial: weight of the label-free loss beside the supervised one "
        "(default chosen on validation)",
    )
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def parse_params(items: list[str]) -> dict:
    from mlrsir.errors import ConfigError

    params = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    return params


def config_overrides(args: argparse.Namespace) -> dict:
    return {
        "dataset": args.dataset,
        "root": args.root,
        "bands": getattr(args, "bands", None),
        "method": args.method,
        "backbone": args.backbone,
        "weights": args.weights,
        "finetune": args.finetune,
        "image_size": args.image_size,
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "backbone_lr": args.backbone_lr,
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "use_cbam": False if args.no_cbam else None,
        "multi_level": False if args.single_level else None,
        "augment": False if args.no_augment else None,
        "pool_size": args.pool_size,
        "method_params": parse_params(args.param) or None,
        "split_seed": args.split_seed,
        "protocol": getattr(args, "protocol", None),
        "deterministic": True if getattr(args, "deterministic", False) else None,
        "eval_split": args.eval_split,
        "train_precision": getattr(args, "train_precision", None),
        "device": args.device,
        "supervision": getattr(args, "supervision", None),
        "label_fraction": getattr(args, "label_fraction", None),
        "labelled_batch_size": getattr(args, "labelled_batch_size", None),
        "ssl_weight": getattr(args, "ssl_weight", None),
        "label_free_objective": getattr(args, "label_free_objective", None),
        "neighbour_k": getattr(args, "neighbour_k", None),
    }


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model and evaluate it (queries = test split, database = training split)")
    add_config_arguments(p)
    p.add_argument("--bits", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run directory (created; an unfinished run there is resumed)")
    add_archive_arguments(p)
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="data-parallel training in N local processes (torch.distributed; gloo on CPU, NCCL on GPU). "
        "Across machines: torchrun --nnodes M --nproc-per-node N -m mlrsir train ...",
    )
    p.set_defaults(func=run)


def add_archive_arguments(p: argparse.ArgumentParser) -> None:
    """``--images`` and the tiling options of ``index build``, for ``train --supervision none``."""
    group = p.add_argument_group("training on an unlabelled archive (--supervision none)")
    group.add_argument(
        "--images",
        nargs="+",
        default=None,
        help="train on these instead of --dataset/--root: what `index build --images` takes (image folders or "
        "files, no label file; GeoTIFF/COG rasters, band folders, STAC Item .json); needs --supervision none. "
        "With --images, --bands picks the scene bands as in `index build` (3 bands or 1, e.g. B04,B03,B02)",
    )
    group.add_argument("--tile", type=int, default=None, help="scene tile side in pixels (default 256, as index build)")
    group.add_argument("--stride", type=int, default=None, help="step between scene tiles (default: the tile size)")
    group.add_argument(
        "--radiometry",
        default=None,
        help="scene value -> 0..255 rule: auto (default), sentinel2, landsat8_l1, uint8 or KIND:SCALE:LOW:HIGH",
    )


def archive_overrides(args: argparse.Namespace) -> dict:
    """Config overrides of ``--images`` (``--bands`` then names scene bands, as in ``index build``)."""
    if not getattr(args, "images", None):
        for flag in ("tile", "stride", "radiometry"):
            if getattr(args, flag, None) is not None:
                from mlrsir.errors import ConfigError

                raise ConfigError(f"--{flag} tiles the scenes of --images; it needs --images")
        return {}
    return {
        "images": list(args.images),
        "tile": args.tile,
        "stride": args.stride,
        "scene_radiometry": args.radiometry,
        "scene_bands": args.bands,
        "bands": None,
    }


def _train_rank(config, out: str, progress: bool) -> dict:
    """One rank of a distributed run (spawned by --nproc, or started by torchrun)."""
    from mlrsir.run.config import TrainConfig
    from mlrsir.training.ddp import init_from_env
    from mlrsir.training.trainer import train

    if isinstance(config, dict):  # spawned: the frozen config travels as its dict
        config = TrainConfig.from_dict(config)
    init_from_env(config.device)
    return train(config, out, progress=progress)


def run(args: argparse.Namespace) -> int:
    from mlrsir.cli.printing import print_metrics, scalar_metrics
    from mlrsir.run.config import resolve_config
    from mlrsir.training.ddp import env_world_size
    from mlrsir.training.trainer import train

    overrides = config_overrides(args)
    overrides.update(bits=args.bits, seed=args.seed)
    overrides.update(archive_overrides(args))
    config = resolve_config(args.preset, **overrides)
    if args.nproc < 1:
        from mlrsir.errors import ConfigError

        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 or env_world_size() > 1:
        from mlrsir.training.ddp import current, launch_local, shutdown

        if args.nproc > 1:
            launch_local(args.nproc, _train_rank, (config.to_dict(), args.out, not args.quiet))
            metrics = json.loads((Path(args.out) / "metrics.json").read_text())
        else:  # under torchrun: this process is one rank; rank 0 prints
            metrics = _train_rank(config, args.out, not args.quiet)
            is_main = current().is_main
            shutdown()
            if not is_main:
                return 0
    else:
        metrics = train(config, args.out, progress=not args.quiet)
    if args.json:
        print(json.dumps(scalar_metrics(metrics)))
    elif metrics.get("map") is None and config.images:
        print(f"{config.method} {config.bits} bits trained without labels on --images: {metrics.get('note')}")
        print(f"run directory: {args.out} (index with: mlrsir index build --run {args.out} --images ... --index IDX)")
    else:
        print_metrics(
            metrics, title=f"{config.method} {config.bits} bits, {config.dataset} ({config.eval_split} queries)"
        )
        print(f"run directory: {args.out}")
    note = label_scorer_note(args.out)
    if note and not args.json:
        print(note)
    return 0


def label_scorer_note(run_dir) -> str | None:
    """The line saying whether the run stored a label scorer (``meta.json``'s ``label_scorer``),
    i.e. whether ``index build`` with it stores predicted labels; None when meta says nothing."""
    try:
        meta = json.loads((Path(run_dir) / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or "label_scorer" not in meta:
        return None
    scorer = meta["label_scorer"]
    if scorer is None:
        reason = meta.get("label_scorer_reason") or "no labels"
        return f"no label scorer ({reason}): index build with this run stores no predicted labels"
    return (
        f"label scorer: {Path(run_dir) / scorer['file']} ({scorer['items']} items of the {scorer['from']}): "
        "index build with this run stores predicted labels"
    )
