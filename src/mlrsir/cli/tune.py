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
    p.add_argument("--out", required=True, help="folder for the tuning runs and tuning.md / tuning.json")
    p.set_defaults(func=run)


def candidates(search_space: dict[str, list]) -> list[dict]:
    """Cartesian product of a search space, in a stable order."""
    import itertools

    keys = sorted(search_space)
    return [dict(zip(keys, values)) for values in itertools.product(*(search_space[k] for k in keys))]


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from mlrsir.cli.printing import markdown_table
    from mlrsir.cli.train import config_overrides
    from mlrsir.methods.registry import get_method
    from mlrsir.run.run_dir import write_json_atomic
    from mlrsir.training.grid import GridRunner, RunSpec

    base = config_overrides(args)
    base["eval_split"] = "val"
    out = Path(args.out)
    runner = GridRunner(out, base, progress=not args.quiet)
    results = []
    for method in args.methods:
        for bits in args.bits:
            space = get_method(method, bits).search_space
            for i, params in enumerate(candidates(space)):
                spec = RunSpec(
                    name=f"{method}-{bits}b-c{i}",
                    preset=args.preset,
                    overrides={"method": method, "bits": bits, "seed": args.seed, "method_params": params},
                )
                row = runner.run(spec, position=f"[{method} {bits}b {i + 1}]")
                results.append(
                    {
                        "method": method,
                        "bits": bits,
                        "params": params,
                        "map": row["map"],
                        "map_stable": row["map_stable"],
                        "precision_at_10": row.get("precision_at_10"),
                        "run_dir": row["run_dir"],
                    }
                )
    best = {}
    for r in results:
        key = f"{r['method']}-{r['bits']}"
        if key not in best or r["map"] > best[key]["map"]:
            best[key] = r
    write_json_atomic(out / "tuning.json", {"results": results, "best": best})
    lines = [
        "# Hyperparameters chosen on the validation split",
        "",
        "Queries: validation part; database: training part (test split untouched). "
        f"Settings: preset `{args.preset}`, seed {args.seed}.",
        "",
    ]
    header = ["method", "bits", "params", "val mAP (tie-aware)", "val mAP (stable)", "chosen"]
    rows = [
        [
            r["method"],
            r["bits"],
            json.dumps(r["params"], sort_keys=True),
            r["map"],
            r["map_stable"],
            "yes" if best[f"{r['method']}-{r['bits']}"] is r else "",
        ]
        for r in results
    ]
    lines.append(markdown_table(header, rows))
    (out / "tuning.md").write_text("\n".join(lines) + "\n")
    for key, r in best.items():
        print(f"best {key}: {json.dumps(r['params'], sort_keys=True)} val mAP {r['map']:.4f}")
    print(f"wrote {out / 'tuning.md'}")
    return 0
