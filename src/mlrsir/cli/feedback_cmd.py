"""``mlrsir feedback simulate --run RUN [--rounds 2] [--mark 10] [--out reports/ucm]``:
relevance feedback (Rocchio, :mod:`mlrsir.inference.feedback`) with simulated users on the
run's test queries, for two simulated users (relevant = >= 1 shared label; Jaccard >= 0.5);
writes ``OUT/feedback.md`` + ``.json``."""

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
