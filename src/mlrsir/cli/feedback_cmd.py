"""``mlrsir feedback simulate --run RUN [--rounds 2] [--mark 10] [--out reports/ucm]``:
relevance feedback (Rocchio, :mod:`mlrsir.inference.feedback`) with simulated users on the
run's test queries, for two simulated users (relevant = >= 1 shared label; Jaccard >= 0.5);
writes ``OUT/feedback.md`` + ``.json``.

``mlrsir feedback like-these --run RUN --out DIR``: "find all like these" (a linear
classifier on the codes, :mod:`mlrsir.inference.like_these`) against Rocchio with simulated
users looking for one class (:mod:`mlrsir.report.like_these`); ``l2`` chosen on the
validation split, figures on the test split; writes ``OUT/like_these.md`` + ``.json``."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("feedback", help="relevance feedback: simulate rounds on the test split")
    sub = parser.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    sim = sub.add_parser("simulate", help="mAP@100 / P@10 after rounds of simulated feedback")
    sim.add_argument("--run", required=True, help="encoded run (mlrsir encode)")
    sim.add_argument("--rounds", type=int, default=2)
    sim.add_argument("--mark", type=int, default=10, help="results marked per round (default 10)")
    sim.add_argument("--weights", default="1,0.75,0.25", help="Rocchio a,b,c (default 1,0.75,0.25)")
    sim.add_argument("--out", default="reports/ucm")
    sim.set_defaults(func=run_simulate)
    like = sub.add_parser("like-these", help="find all like these (classifier on codes) vs Rocchio, per round")
    like.add_argument("--run", required=True, help="encoded run (mlrsir encode)")
    like.add_argument("--positives", type=int, default=3, help="initial ✓ items per search (default 3)")
    like.add_argument("--negatives", type=int, default=3, help="initial ✗ items per search (default 3)")
    like.add_argument("--rounds", type=int, default=3)
    like.add_argument("--mark", type=int, default=20, help="results marked per round (default 20)")
    like.add_argument("--k", type=int, default=20, help="precision cut-off (default 20)")
    like.add_argument("--trials", type=int, default=10, help="searches per class (default 10)")
    like.add_argument("--l2", type=float, help="classifier l2 (default: chosen on the validation split)")
    like.add_argument("--seed", type=int, default=0)
    like.add_argument(
        "--classes",
        help="comma-separated: the held classes the simulated users look for (default: every class), e.g. ship",
    )
    like.add_argument("--out", required=True, help="report folder")
    like.set_defaults(func=run_like_these)


def run_simulate(args) -> int:
    from mlrsir.errors import ConfigError
    from mlrsir.inference.feedback import markdown, simulate
    from mlrsir.io_atomic import write_text_atomic

    try:
        weights = tuple(float(v) for v in args.weights.split(","))
    except ValueError:
        weights = ()
    if len(weights) != 3:
        raise ConfigError(f"--weights {args.weights!r}: expected a,b,c (three numbers)")
    if args.rounds < 0 or args.mark < 1:
        raise ConfigError("--rounds must be >= 0 and --mark >= 1")
    results = [
        simulate(args.run, rounds=args.rounds, mark=args.mark, weights=weights, relevance=relevance)
        for relevance in ("share", "jaccard")
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "feedback.json", json.dumps(results, indent=2) + "\n")
    write_text_atomic(out / "feedback.md", markdown(results))
    for result in results:
        for r in result["rounds"]:
            print(
                f"{result['relevance']:>7} round {r['round']}: mAP@100 {r['map_at_100']:.4f}  "
                f"P@10 {r['precision_at_10']:.4f}  residual P@10 {r['residual_precision_at_10']:.4f}"
            )
    print(f"wrote {out / 'feedback.md'} and {out / 'feedback.json'}")
    return 0


def run_like_these(args) -> int:
    from mlrsir.errors import ConfigError
    from mlrsir.inference.label_prediction import run_codes
    from mlrsir.io_atomic import write_text_atomic
    from mlrsir.report.like_these import choose_l2, markdown, simulate_like_these

    if min(args.positives, args.rounds, args.mark, args.k, args.trials) < 1 or args.negatives < 0:
        raise ConfigError("--positives, --rounds, --mark, --k, --trials must be >= 1 and --negatives >= 0")
    options = {
        "positives": args.positives,
        "negatives": args.negatives,
        "rounds": args.rounds,
        "mark": args.mark,
        "k": args.k,
        "trials": args.trials,
        "seed": args.seed,
    }
    if args.classes:
        names = [c.strip() for c in args.classes.split(",") if c.strip()]
        known = [str(c) for c in run_codes(args.run)["classes"]]
        unknown = [c for c in names if c not in known]
        if not names or unknown:
            raise ConfigError(
                f"--classes {args.classes!r}: unknown class {unknown[:1] or names} (known: {', '.join(known)})"
            )
        options["classes"] = names
    chosen = None
    l2 = args.l2
    if l2 is None:
        l2, chosen = choose_l2(args.run, **options)
        tried = ", ".join(f"{c['l2']}: {c['round1_precision']:.4f}" for c in chosen)
        print(f"l2 chosen on the validation split: {l2} (round-1 precision {tried})")
    result = simulate_like_these(args.run, split="test", l2=l2, **options)
    result["l2_validation"] = chosen
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "like_these.json", json.dumps(result, indent=2) + "\n")
    write_text_atomic(out / "like_these.md", markdown(result, chosen))
    for r in result["by_round"]:
        print(
            f"round {r['round']}: classifier P@{args.k} {r['classifier']:.4f}  Rocchio {r['rocchio']:.4f}  "
            f"difference {r['difference']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]"
        )
    print(f"wrote {out / 'like_these.md'} and {out / 'like_these.json'}")
    return 0
