"""``mlrsir encode``: codes of every image of the run's dataset, written to ``RUN_DIR/codes.npz``
(with the ``runtime`` and ``precision`` that made them)."""

from __future__ import annotations

import argparse

from mlrsir.cli.runtime_options import add_runtime_arguments


def register(sub) -> None:
    p = sub.add_parser("encode", help="encode every image of the run's dataset into RUN_DIR/codes.npz")
    p.add_argument("--run", required=True, help="a finished run directory")
    p.add_argument("--root", default=None, help="dataset folder (default: the one the run was trained on)")
    p.add_argument("--batch-size", type=int, default=128)
    add_runtime_arguments(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np
    import torch

    from mlrsir.data.cache import load_image_array
    from mlrsir.data.registry import load_dataset
    from mlrsir.data.splits import load_split, protocol_indices
    from mlrsir.inference.encoder import load_encoder
    from mlrsir.run.config import run_dataset_root

    encoder = load_encoder(args.run, runtime=args.runtime, precision=args.precision)
    paths = encoder.paths
    cfg = encoder.config
    root = run_dataset_root(cfg, args.root, run_dir=args.run)
    spec = encoder.inputs  # 8-bit RGB, or the bands + radiometric rule of a multispectral run
    dataset = load_dataset(cfg.dataset, root, **spec.dataset_options())
    split = load_split(paths.split, dataset)
    _, query_idx, db_idx = protocol_indices(split, cfg.eval_split)
    if spec.multispectral:
        from mlrsir.models.input_spec import load_band_array

        images = load_band_array(dataset, cfg.image_size, progress=not args.quiet)
    else:
        images = load_image_array(dataset, cfg.image_size, progress=not args.quiet)
    encode = encoder.encode_arrays if spec.multispectral else encoder.encode_uint8

    codes, outputs = [], []
    start = time.perf_counter()
    for i in range(0, len(images), args.batch_size):
        c, o = encode(torch.from_numpy(images[i : i + args.batch_size]))
        codes.append(c)
        outputs.append(o)
    seconds = time.perf_counter() - start
    key = "codes" if encoder.retrieval == "hamming" else "assignments"
    np.savez_compressed(
        paths.codes,
        **{key: np.concatenate(codes)},
        outputs=np.concatenate(outputs),
        labels=np.asarray(dataset.labels, dtype=np.uint8),
        classes=np.array(dataset.classes),
        paths=np.array([str(p) for p in dataset.paths]),
        query_idx=query_idx,
        db_idx=db_idx,
        bits=np.int64(cfg.bits),
        runtime=np.str_(encoder.runtime),
        precision=np.str_(encoder.precision),
    )
    rate = len(images) / max(seconds, 1e-9)
    print(
        f"encoded {len(images)} images in {seconds:.1f} s ({rate:.0f} images/s, model forward at "
        f"{cfg.image_size}x{cfg.image_size}, {encoder.runtime} runtime at {encoder.precision}, "
        f"{torch.get_num_threads()} threads) "
        f"-> {paths.codes}"
    )
    return 0
