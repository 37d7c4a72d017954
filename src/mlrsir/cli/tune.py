"""``mlrsir tune``: choose a method's hyperparameters on the validation split.

Every candidate is trained on the training part only (the 70 % part minus the validation
part) and evaluated with validation images as queries against the training part as
database: the test split is never looked at. Each method gets the same number of
candidates (its ``search_space``, a grid) and the same training budget.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    from mlrsir.cli.train import add_config_arguments

    p = sub.add_parser("tune", help="grid-search a method's hyperparameters on the validation split")
    add_config_arguments(p)
    p.add_argument("--methods", nargs="+", default=["mlrsir"])
    p.add_argument("--bits", nargs="+", type=int, default=[32])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--budgets",
        nargs="+",
        type=parse_budget,
        default=None,
        metavar="ITERATIONSxBATCH",
        help="search the training budget (e.g. 500x64 1000x64 2000x64) instead of the method's parameters",
    )
    p.add_argument("--out", required=True, help="folder for the tuning runs and tuning.md / tuning.json")
    p.set_defaults(func=run)


def parse_budget(text: str) -> dict[str, int]:
    """``"1000x64"`` -> ``{"iterations": 1000, "batch_size": 64}`` (argparse type)."""
    iterations, sep, batch = text.lower().partition("x")
    try:
        budget = {"iterations": int(iterations), "batch_size": int(batch)}
    except ValueError:
        budget = {}
    if not sep or not budget or min(budget.values()) < 1:
        raise argparse.ArgumentTypeError(f"budget {text!r}: expected ITERATIONSxBATCH, e.g. 1000x64")
    return budget


def candidates(search_space: dict[str, list]) -> list[dict]:
    """Cartesian product of a search space, in a stable order."""
    import itertools

    keys = sorted(search_space)
    return [dict(zip(keys, values)) for values in itertools.product(*(search_space[k] for k in keys))]


def _candidate_runs(method: str, bits: int, budgets: list[dict] | None) -> list[tuple[str, dict, dict]]:
    """``(run name, params shown in the table, config overrides)`` of each candidate."""
    from mlrsir.methods.registry import get_method

    if budgets:
        return [(f"{method}-{bits}b-{b['iterations']}x{b['batch_size']}", b, dict(b)) for b in budgets]
    space = get_method(method, bits).search_space
    return [(f"{method}-{bits}b-c{i}", p, {"method_params": p}) for i, p in enumerate(candidates(space))]


def best_candidates(results: list[dict]) -> dict[str, dict]:
    """``{"METHOD-BITS": result}``: the highest validation mAP (tie-aware) of each method and
    length; the first candidate wins a tie."""
    best: dict[str, dict] = {}
    for r in results:
        key = f"{r['method']}-{r['bits']}"
        if key not in best or r["map"] > best[key]["map"]:
            best[key] = r
    return best


def tuning_markdown(results: list[dict], best: dict[str, dict], settings: str) -> str:
    """The text of ``tuning.md``: one row per candidate, the chosen one marked."""
    import json

    from mlrsir.cli.printing import markdown_table

    header = ["method", "bits", "params", "val mAP (tie-aware)", "val mAP (stable)", "training s", "chosen"]
    rows = [
        [
            r["method"],
            r["bits"],
            json.dumps(r["params"], sort_keys=True),
            r["map"],
            r["map_stable"],
            f"{r['train_seconds']:.0f}" if r.get("train_seconds") is not None else "",
            "yes" if best[f"{r['method']}-{r['bits']}"]["run_dir"] == r["run_dir"] else "",
        ]
        for r in results
    ]
    lines = [
        "# Hyperparameters chosen on the validation split",
        "",
        f"Queries: validation part; database: training part (test split untouched). Settings: {settings}.",
        "",
        markdown_table(header, rows),
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from mlrsir.cli.train import config_overrides
    from mlrsir.run.run_dir import write_json_atomic
    from mlrsir.training.grid import GridRunner, RunSpec

    base = config_overrides(args)
    base["eval_split"] = "val"
    out = Path(args.out)
    runner = GridRunner(out, base, progress=not args.quiet)
    results = []
    for method in args.methods:
        for bits in args.bits:
            for name, params, overrides in _candidate_runs(method, bits, args.budgets):
                spec = RunSpec(
                    name=name,
                    preset=args.preset,
                    overrides={"method": method, "bits": bits, "seed": args.seed, **overrides},
                )
                row = runner.run(spec, position=f"[{method} {bits}b {spec.name}]")
                results.append(
                    {
                        "method": method,
                        "bits": bits,
                        "params": params,
                        "map": row["map"],
                        "map_stable": row["map_stable"],
                        "precision_at_10": row.get("precision_at_10"),
                        "train_seconds": row.get("train_seconds"),
                        "run_dir": row["run_dir"],
                    }
                )
    best = best_candidates(results)
    write_json_atomic(out / "tuning.json", {"results": results, "best": best})
    settings = f"preset `{args.preset}`, seed {args.seed}" + (
        ", candidates: training budgets (iterations x batch size)" if args.budgets else ""
    )
    (out / "tuning.md").write_text(tuning_markdown(results, best, settings))
    for key, r in best.items():
        print(f"best {key}: {json.dumps(r['params'], sort_keys=True)} val mAP {r['map']:.4f}")
    print(f"wrote {out / 'tuning.md'}")
    return 0
