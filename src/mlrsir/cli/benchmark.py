"""``mlrsir benchmark``: the comparison grid (methods x bit lengths x seeds) and its report.

Trains what is missing under ``OUT/runs/`` (finished runs are reused, interrupted ones
resume), evaluates every run with the same protocol and metrics, and writes
``results.json``, ``results.csv``, ``report.md`` and figures into ``OUT``.

Each run's split is drawn from its own seed (``split_seed = seed``) unless
``--split-seed`` is given, so seeds differ in split as well as in initialisation and MLRSIR-NET
and a baseline of the same seed share their queries (the pairing of the bootstrap
statistics). ``--protocol unseen-scenes`` trains on 15 of the 21 scene classes and queries
the other 6 (write it to another ``--out``, e.g. ``reports/ucm-unseen``).

``--include-results FILE`` reuses the rows of an earlier report's ``results.json`` (with
their per-query APs): a grid cell (method, bits, seed) found there is not trained again, so
a report can grow by one bit length without retraining the others, even when their run
folders are gone. The rows must come from the same protocol and settings; the report lists
the files it reused.
"""

from __future__ import annotations

import argparse

ABLATIONS = {
    # variant name: (preset, overrides) applied to MLRSIR-NET
    "full (default preset)": ("default", {}),
    "without CBAM": ("default", {"use_cbam": False}),
    "single-level (last stage)": ("default", {"multi_level": False}),
    "without quantization term": ("default", {"method_params": {"quant_weight": 0.0}}),
    # does CBAM need a backbone that trains? the same two variants with every backbone stage frozen
    "frozen backbone": ("default", {"finetune": "none"}),
    "frozen backbone, without CBAM": ("default", {"finetune": "none", "use_cbam": False}),
    "paper preset (fine-tune, SGD: backbone 1e-5, new layers 2e-4, 200 it)": ("paper", {}),
}


def register(sub) -> None:
    from mlrsir.cli.train import add_config_arguments

    p = sub.add_parser("benchmark", help="train/evaluate a grid of methods x bits x seeds and write the report")
    add_config_arguments(p)
    p.add_argument(
        "--methods",
        nargs="+",
        default=["mlrsir"],
        help="mlrsir dch dhn dtq dqn; METHOD:FINETUNE (e.g. dch:none) trains that method with another "
        "backbone regime than the grid's --finetune, reported as its own row",
    )
    p.add_argument("--bits", nargs="+", type=int, default=[12, 24, 32, 48])
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument(
        "--seeds-for",
        action="append",
        default=[],
        metavar="[METHOD:]BITS=N",
        help="fewer/more seeds at one bit length, for all methods or one: --seeds-for 36=1, --seeds-for dch:12=1",
    )
    p.add_argument("--paper-seeds", type=int, default=1, help="seeds of the (slow, fine-tuning) paper-preset ablation")
    p.add_argument("--ablations", action="store_true", help="also run the MLRSIR-NET ablation table")
    p.add_argument("--ablation-bits", nargs="+", type=int, default=[32])
    p.add_argument("--ablation-seeds", type=int, default=None, help="seeds of each ablation (default --seeds)")
    p.add_argument("--no-floors", action="store_true", help="skip the random floors")
    p.add_argument(
        "--bootstrap-resamples",
        type=int,
        default=10_000,
        help="resamples of the paired bootstrap (MLRSIR-NET against each baseline)",
    )
    p.add_argument(
        "--include-results",
        action="append",
        default=[],
        metavar="FILE",
        help="results.json of an earlier report (same protocol and settings): its grid cells are reused, not retrained",
    )
    p.add_argument(
        "--include-ablations",
        metavar="FILE",
        default=None,
        help="ablations.json of an earlier report, written into this one (instead of --ablations)",
    )
    p.add_argument("--out", required=True, help="report folder (runs go under OUT/runs/)")
    p.set_defaults(func=run)


def row_key(row) -> tuple[str, int, int]:
    """``(method tag, bits, seed)`` of a result row: the grid cell it fills."""
    return (str(row["method"]).lower(), int(row["bits"]), int(row["seed"]))


def spec_key(spec) -> tuple[str, int, int]:
    """``(method tag, bits, seed)`` of a grid :class:`RunSpec` (``dch:none`` for a regime row)."""
    method = spec.tags.get("method", spec.overrides["method"])
    return (str(method).lower(), int(spec.overrides["bits"]), int(spec.overrides["seed"]))


def load_result_rows(path) -> list[dict]:
    """The rows of a report's ``results.json`` (or ``ablations.json``), checked.

    Raises :class:`ConfigError` naming the file when it is missing, not JSON, or holds rows
    without ``method``, ``bits``, ``seed`` and ``per_query_ap``.
    """
    import json
    from pathlib import Path

    from mlrsir.errors import ConfigError

    path = Path(path)
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: results file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable results.json ({exc})") from None
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: expected a list of result rows, found {type(rows).__name__}")
    for i, row in enumerate(rows):
        missing = [k for k in ("method", "bits", "seed", "per_query_ap") if not isinstance(row, dict) or k not in row]
        if missing:
            raise ConfigError(f"{path}: row {i} has no {', '.join(missing)}")
    return rows


def included_rows(paths: list[str]) -> dict[tuple[str, int, int], tuple[dict, str]]:
    """``{row_key: (row, file)}`` of the ``--include-results`` files; a cell in two files is refused."""
    from mlrsir.errors import ConfigError

    found: dict[tuple[str, int, int], tuple[dict, str]] = {}
    for path in paths:
        for row in load_result_rows(path):
            key = row_key(row)
            if key in found:
                raise ConfigError(f"{path}: {key[0]} {key[1]} bits seed {key[2]} is also in {found[key][1]}")
            found[key] = (row, str(path))
    return found


def check_reused_budget(row: dict, where: str, config) -> None:
    """Refuse a reused row trained with another budget than the grid's (rows that record one)."""
    from mlrsir.errors import ConfigError

    for key in ("iterations", "batch_size"):
        if key in row and row[key] != getattr(config, key):
            raise ConfigError(
                f"{where}: {row['method']} {row['bits']} bits seed {row['seed']} was trained with "
                f"{key} {row[key]}, this grid uses {getattr(config, key)}"
            )


def budgets_of(runner, specs: list) -> dict[str, str]:
    """``{method tag: "ITERATIONSxBATCH"}`` of a grid (each method may have its own validated budget)."""
    budgets: dict[str, str] = {}
    for spec in specs:
        config = runner.config_for(spec)
        budgets.setdefault(spec_key(spec)[0], f"{config.iterations}x{config.batch_size}")
    return budgets


def _seed_counts(args) -> dict[tuple[str, int], int]:
    """Seeds per (method, bits): ``--seeds``, then ``--seeds-for`` overrides in order."""
    from mlrsir.errors import ConfigError

    counts = {(m, b): args.seeds for m in args.methods for b in args.bits}
    for item in args.seeds_for:
        method, _, rest = item.rpartition(":")
        try:
            bits, n = (int(x) for x in rest.split("="))
        except ValueError as exc:
            raise ConfigError(f"--seeds-for {item!r}: expected [METHOD:]BITS=N") from exc
        for m, b in counts:
            if b == bits and method in ("", m):
                counts[(m, b)] = n
    return counts


def _grid_specs(args, counts: dict[tuple[str, int], int], split_seed: bool | None) -> tuple[list, list]:
    """``(main grid RunSpecs, ablation RunSpecs)`` of the command line."""
    from mlrsir.training.grid import RunSpec

    def seeded(s: int) -> dict:
        return {"seed": s, "split_seed": s if split_seed else None}

    def method_spec(key: str, b: int, s: int) -> RunSpec:
        method, _, regime = key.partition(":")
        if not regime:
            return RunSpec(
                name=f"{method}-{b}b-s{s}", overrides={"method": method, "bits": b, **seeded(s)}, preset=args.preset
            )
        return RunSpec(
            name=f"{method}-{regime}-{b}b-s{s}",
            overrides={"method": method, "bits": b, "finetune": regime, **seeded(s)},
            preset=args.preset,
            tags={"method": key.lower()},  # its own row in the report: "DCH (frozen backbone)"
        )

    specs = [method_spec(m, b, s) for m in args.methods for b in args.bits for s in range(counts[(m, b)])]
    ablation_specs = []
    if args.ablations:
        n_seeds = args.ablation_seeds if args.ablation_seeds is not None else args.seeds
        for variant, (preset, overrides) in ABLATIONS.items():
            slug = "".join(c if c.isalnum() else "-" for c in variant.split(" (")[0]).strip("-")
            for b in args.ablation_bits:
                for s in range(min(n_seeds, args.paper_seeds) if preset == "paper" else n_seeds):
                    # the full model is the main grid's MLRSIR-NET run (same folder, reused)
                    name = (
                        f"mlrsir-{b}b-s{s}" if not overrides and preset == "default" else f"ablation-{slug}-{b}b-s{s}"
                    )
                    ablation_specs.append(
                        RunSpec(
                            name=name,
                            preset=preset,
                            overrides={"method": "mlrsir", "bits": b, **seeded(s), **overrides},
                            tags={"variant": variant},
                        )
                    )
    return specs, ablation_specs


def _mean_std(values: list[float]) -> dict:
    import numpy as np

    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def _floors(data, eval_split: str, n_seeds: int, bits: list[int]) -> dict:
    """Random-ranking and random-codes floors on the protocol's queries and database of ``data``."""
    from mlrsir.data.splits import protocol_indices
    from mlrsir.metrics.floors import random_codes_floor, random_ranking_floor

    _, q, db = protocol_indices(data.split, eval_split)
    ql, dl = data.labels[q], data.labels[db]
    seeds = range(max(n_seeds, 1))
    return {
        "random_ranking": _mean_std([random_ranking_floor(ql, dl, seed=s)["map"] for s in seeds]),
        "random_codes": {
            str(b): _mean_std([random_codes_floor(ql, dl, bits=b, seed=s)["map"] for s in seeds]) for b in bits
        },
    }


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from mlrsir.cli.train import config_overrides
    from mlrsir.data.registry import DEFAULT_DATASET, dataset_note
    from mlrsir.report.writer import write_report
    from mlrsir.run.run_dir import git_revision
    from mlrsir.training.grid import GridRunner

    base = config_overrides(args)
    if base["dataset"] is None:
        base["dataset"] = DEFAULT_DATASET
    out = Path(args.out)
    runner = GridRunner(out, base, progress=not args.quiet)
    counts = _seed_counts(args)
    split_seed = None if args.split_seed is not None else True  # True: each run's split from its seed
    specs, ablation_specs = _grid_specs(args, counts, split_seed)
    reused = included_rows(args.include_results)
    for spec in specs:
        if spec_key(spec) in reused:
            check_reused_budget(*reused[spec_key(spec)], runner.config_for(spec))
    to_train = [spec for spec in specs if spec_key(spec) not in reused]
    total = len(to_train) + len(ablation_specs)
    print(
        f"benchmark: {len(to_train)} runs + {len(ablation_specs)} ablation runs -> {out}"
        + (f" ({len(specs) - len(to_train)} grid cells reused from --include-results)" if reused else "")
    )
    start = time.perf_counter()
    trained = dict(zip(map(spec_key, to_train), runner.run_all(to_train), strict=True))
    rows = [trained[spec_key(spec)] if spec_key(spec) in trained else reused[spec_key(spec)][0] for spec in specs]
    ablations = [
        runner.run(spec, position=f"[ablation {i}/{len(ablation_specs)}]") for i, spec in enumerate(ablation_specs, 1)
    ]
    if args.include_ablations and not ablations:
        ablations = load_result_rows(args.include_ablations)
    first_config = runner.config_for(specs[0]) if specs else None
    floors = None
    if not args.no_floors and first_config is not None:
        data = runner.prepared_data()[0] if runner.prepared_data() else runner.data_for_spec(specs[0])
        floors = _floors(data, first_config.eval_split, args.seeds, args.bits)
    settings = {
        "preset": args.preset,
        "protocol": first_config.protocol if first_config else None,
        "split seed": "each run's seed" if split_seed else args.split_seed,
        "budget (iterations x batch)": budgets_of(runner, specs),
        "finetune": first_config.finetune if first_config else None,
        "backbone": first_config.backbone if first_config else None,
        "image_size": first_config.image_size if first_config else None,
        "seeds": {f"{m} {b}": n for (m, b), n in counts.items()},
        "git_revision": git_revision()["revision"],
        "wall_seconds": round(time.perf_counter() - start, 1),
        "command": "mlrsir " + " ".join(sys.argv[1:]),
    }
    if reused:
        settings["grid cells reused"] = f"{len(specs) - len(to_train)} of {len(specs)}, from " + ", ".join(
            args.include_results
        )
    if args.include_ablations and not ablation_specs:
        settings["ablations from"] = args.include_ablations
    paths = write_report(
        rows,
        out,
        floors=floors,
        ablations=ablations or None,
        dataset_note=dataset_note(base["dataset"]),
        settings=settings,
        n_resamples=args.bootstrap_resamples,
    )
    print(f"wrote {', '.join(str(p) for p in paths.values())} ({total} runs, {time.perf_counter() - start:.0f} s)")
    return 0
