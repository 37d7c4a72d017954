"""``mlrsir evaluate-codes``: retrieval metrics of a ``codes.npz`` file (no model needed).

The file follows the ``RUN_DIR/codes.npz`` format (docs/ARCHITECTURE.md): ``codes`` uint8
``(N, k)`` in {0,1}, ``labels`` ``(N, C)`` multi-hot, ``query_idx`` / ``db_idx`` int
(test / trainval) and optionally ``bits``. Without ``query_idx``/``db_idx``, ``--split``
names a split JSON (``mlrsir.data.splits`` format): queries = test, database = train + val.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate-codes",
        help="retrieval metrics (mAP, P@K, NDCG, ...) of binary codes stored in a codes.npz file",
        description="Hamming-ranking retrieval metrics of the codes in FILE.npz "
        "(keys: codes, labels, query_idx, db_idx[, bits]).",
    )
    p.add_argument("--codes", required=True, metavar="FILE.npz", help="codes file (RUN_DIR/codes.npz format)")
    p.add_argument(
        "--labels",
        metavar="FILE",
        help="(N, C) 0/1 label matrix (.npy, .npz with key 'labels', or whitespace/comma text); "
        "default: the 'labels' array of the codes file",
    )
    p.add_argument(
        "--split",
        metavar="SPLIT.json",
        help="split file giving test/train/val indices when the codes file has no query_idx/db_idx",
    )
    p.add_argument(
        "--queries",
        choices=["test", "all-but-query"],
        default="test",
        help="test: queries = test items, database = trainval (default); "
        "all-but-query: queries = test items, database = every other item of the file",
    )
    p.add_argument(
        "--ks",
        type=int,
        nargs="+",
        default=[10, 100],
        metavar="K",
        help="cut-offs of mAP@K, P@K, NDCG@K, ACG@K (default: 10 100)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--curves", action="store_true", help="also compute PR-by-radius, PR-by-rank and P@N curves")
    p.set_defaults(func=run)


def _load_npz(path: Path) -> dict:
    import zipfile

    import numpy as np

    from mlrsir.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: codes file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def _load_labels(path: Path):
    import numpy as np

    from mlrsir.errors import DataError

    if not path.is_file():
        raise DataError(f"{path}: labels file not found")
    try:
        if path.suffix == ".npy":
            labels = np.load(path, allow_pickle=False)
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "labels" not in data.files:
                    raise DataError(f"{path}: no 'labels' array (found {sorted(data.files)})")
                labels = data["labels"]
        else:
            text = path.read_text(encoding="utf-8").replace(",", " ")
            labels = np.loadtxt(text.splitlines(), ndmin=2)
    except DataError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read a label matrix ({exc})") from None
    return labels


def load_codes_file(codes_path, labels_path=None, split_path=None) -> dict:
    """Read and validate a codes file; returns ``codes (N, k) uint8``, ``labels (N, C)``,
    ``query_idx``, ``db_idx`` (int64) and ``bits``. Problems raise DataError naming the file."""
    import numpy as np

    from mlrsir.errors import DataError

    path = Path(codes_path)
    data = _load_npz(path)
    if "codes" not in data:
        if "assignments" in data:
            raise DataError(
                f"{path}: holds quantizer 'assignments', not binary codes; "
                "evaluate it with `mlrsir evaluate --run RUN_DIR` (needs the codebooks)"
            )
        raise DataError(f"{path}: missing key 'codes' (found {sorted(data)})")
    codes = data["codes"]
    if codes.ndim != 2 or codes.shape[1] == 0:
        raise DataError(f"{path}: 'codes' must be a 2-D (N, bits) array, got shape {codes.shape}")
    if not (np.issubdtype(codes.dtype, np.integer) or codes.dtype == bool):
        raise DataError(f"{path}: 'codes' must hold integers 0/1, got dtype {codes.dtype}")
    bad = ~np.isin(codes, (0, 1))
    if bad.any():
        raise DataError(f"{path}: 'codes' must hold only 0 and 1, found {np.unique(codes[bad])[:5].tolist()}")
    codes = codes.astype(np.uint8)
    num_items, bits = codes.shape
    if "bits" in data and int(np.asarray(data["bits"]).reshape(-1)[0]) != bits:
        raise DataError(
            f"{path}: 'bits' = {int(np.asarray(data['bits']).reshape(-1)[0])} but codes have {bits} columns"
        )

    if labels_path is not None:
        labels, labels_source = _load_labels(Path(labels_path)), Path(labels_path)
    elif "labels" in data:
        labels, labels_source = data["labels"], path
    else:
        raise DataError(f"{path}: missing key 'labels' (or pass --labels FILE)")
    if labels.ndim != 2 or labels.shape[0] != num_items:
        raise DataError(
            f"{labels_source}: labels of shape {labels.shape} do not match {num_items} codes (need ({num_items}, C))"
        )
    if not np.isin(labels, (0, 1)).all():
        raise DataError(f"{labels_source}: labels must be a 0/1 multi-hot matrix")

    if "query_idx" in data and "db_idx" in data:
        query_idx, db_idx, idx_source = data["query_idx"], data["db_idx"], path
    elif split_path is not None:
        from mlrsir.data.splits import load_split

        split = load_split(split_path)
        query_idx, db_idx, idx_source = split.test, split.trainval, Path(split_path)
    else:
        missing = [k for k in ("query_idx", "db_idx") if k not in data]
        raise DataError(f"{path}: missing key(s) {missing}; pass --split SPLIT.json to give the query/database split")
    out = {"codes": codes, "labels": labels.astype(np.uint8), "bits": bits}
    for name, idx in (("query_idx", query_idx), ("db_idx", db_idx)):
        idx = np.asarray(idx).reshape(-1)
        if idx.size == 0:
            raise DataError(f"{idx_source}: '{name}' is empty")
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= num_items:
            raise DataError(f"{idx_source}: '{name}' must hold integer indices in [0, {num_items - 1}]")
        out[name] = idx.astype(np.int64)
    return out


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from mlrsir.cli.printing import MAIN_METRICS, format_value, print_metrics, scalar_metrics
    from mlrsir.errors import ConfigError
    from mlrsir.metrics.evaluate import evaluate_codes

    if any(k < 1 for k in args.ks):
        raise ConfigError(f"--ks: cut-offs must be >= 1, got {args.ks}")
    f = load_codes_file(args.codes, args.labels, args.split)
    codes, labels, query_idx = f["codes"], f["labels"], f["query_idx"]
    if args.queries == "test":
        db_idx, exclude = f["db_idx"], None
    else:
        db_idx, exclude = np.arange(len(codes)), query_idx  # each query removed from its own ranking
    metrics = evaluate_codes(
        codes[query_idx],
        codes[db_idx],
        labels[query_idx],
        labels[db_idx],
        ks=args.ks,
        curves=args.curves,
        exclude_self=exclude,
    )
    if args.json:
        print(json.dumps(metrics if args.curves else scalar_metrics(metrics)))
        return 0
    database = "trainval" if args.queries == "test" else "all but the query"
    print_metrics(metrics, title=f"{args.codes}: {f['bits']} bits, {len(query_idx)} queries, database = {database}")
    shown = {key for key, _ in MAIN_METRICS}
    others = [(k, v) for k, v in scalar_metrics(metrics).items() if k not in shown and isinstance(v, float)]
    if others:
        print("other metrics")
        width = max(len(k) for k, _ in others)
        for key, value in others:
            print(f"  {key:<{width}}  {format_value(value)}")
    if args.curves:
        print("(curves computed; print them with --json)")
    return 0
