"""``mlrsir data check``: report a dataset's contents and problems.

    mlrsir data check --dataset NAME --root PATH [--json]      (NAME: mlrsir.data.registry.DATASETS)
                      [--label-file FILE] [--mask-dir DIR] [--min-fraction F]
                      [--no-decode] [--workers N]

Exit status: 0 when no problem was found, 1 when there are problems (listed),
2 when the folder or label file cannot be used at all (``mlrsir: error: ...``).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from mlrsir.data.registry import DATASETS

    data = subparsers.add_parser("data", help="dataset tools (check)", description="Dataset tools.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    check = data_sub.add_parser(
        "check",
        help="report image/label counts and problems of a dataset copy",
        description="Decode every image, match images to labels and report counts and problems. "
        "Exit 0 if no problem, 1 if problems, 2 if the dataset cannot be read.",
    )
    check.add_argument("--dataset", required=True, choices=list(DATASETS))
    check.add_argument("--root", required=True, help="dataset folder")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--label-file", help="label file (ucm: .txt/.xlsx/.mat; whdld: .csv)")
    check.add_argument("--mask-dir", help="dlrsd: folder of the masks")
    check.add_argument("--min-fraction", type=float, help="dlrsd/whdld: min pixel fraction for a label")
    check.add_argument("--no-decode", action="store_true", help="skip decoding every image")
    check.add_argument("--workers", type=int, default=None, help="decoding threads")
    check.set_defaults(func=run)
    data.set_defaults(func=lambda args: _help(data))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run(args) -> int:
    import json

    from mlrsir.data.check import check_dataset

    options = {}
    if args.label_file:
        if args.dataset == "dlrsd":
            from mlrsir.errors import ConfigError

            raise ConfigError("--label-file is not used with --dataset dlrsd (labels come from masks)")
        options["label_file"] = args.label_file
    if args.mask_dir:
        options["mask_dir"] = args.mask_dir
    if args.min_fraction is not None:
        options["min_fraction"] = args.min_fraction
    report = check_dataset(args.dataset, args.root, decode=not args.no_decode, workers=args.workers, **options)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(report.format_text())
    return 0 if report.ok else 1
