"""Find all like these against Rocchio, with simulated users (issue 27 item 2).

On a run's codes (``RUN/codes.npz``), the archive is one split (``test`` to report, ``val``
to choose the classifier's ``l2``). A simulated user looks for one class ``c``: they mark
``positives`` items that carry ``c`` (✓) and ``negatives`` items that do not (✗), drawn at
random (seeded). Each method ranks the archive with every marked item left out; the
measure is the tie-aware precision of the top ``k`` (relevant = the item carries ``c``,
:func:`mlrsir.inference.like_these.tie_aware_precision`). Then the user marks the top
``mark`` results of that method's ranking from ground truth (✓ when it carries ``c``, else
✗), marks accumulate, and the next round ranks again. Both methods start from the same
marks; afterwards each sees the results of its own rankings.

Every class with at least ``positives + 1`` members and ``negatives + 1`` non-members in
the archive is searched ``trials`` times. The comparison is paired over (class, trial):
the mean difference of precision (classifier minus Rocchio) per round with a 95 %
percentile bootstrap interval (:func:`mlrsir.report.stats.paired_bootstrap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlrsir.inference.label_prediction import run_codes
from mlrsir.inference.like_these import DEFAULT_L2, classifier_scores, rank, rocchio_scores, tie_aware_precision
from mlrsir.report.stats import paired_bootstrap

METHODS = ("classifier", "rocchio")


def _scorer(method: str, l2: float) -> Callable[[np.ndarray, list[int], list[int]], np.ndarray]:
    if method == "classifier":
        return lambda codes, pos, neg: classifier_scores(codes, pos, neg, l2=l2)
    return lambda codes, pos, neg: rocchio_scores(codes, pos, neg)


def _rounds(codes, relevant, pos, neg, score, rounds: int, mark: int, k: int) -> list[float]:
    """Precision@k of each round for one simulated user and one method."""
    pos, neg = list(pos), list(neg)
    out = []
    for _ in range(rounds):
        scores = score(codes, pos, neg)
        out.append(tie_aware_precision(scores, relevant, k, exclude=pos + neg))
        for i in rank(scores, exclude=pos + neg, k=mark).tolist():
            (pos if relevant[i] else neg).append(i)
    return out


def simulate_like_these(
    run_dir,
    *,
    split: str = "test",
    positives: int = 3,
    negatives: int = 3,
    rounds: int = 3,
    mark: int = 20,
    k: int = 20,
    trials: int = 10,
    l2: float = DEFAULT_L2,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    n_resamples: int = 10_000,
) -> dict[str, Any]:
    """Precision@k per round of both methods and their paired difference (module doc)."""
    data = run_codes(run_dir)
    archive = np.asarray(data[split], dtype=np.int64)
    if not len(archive):
        raise ValueError(f"{run_dir}: the {split} split is empty")
    codes = data["codes"][archive].astype(np.uint8)
    labels = data["labels"][archive].astype(bool)
    names = [str(c) for c in data["classes"]]
    wanted = names if classes is None else list(classes)
    rng = np.random.default_rng(seed)
    per_method: dict[str, list[list[float]]] = {m: [] for m in METHODS}
    searched: list[dict[str, Any]] = []
    for name in wanted:
        relevant = labels[:, names.index(name)]
        members, others = np.flatnonzero(relevant), np.flatnonzero(~relevant)
        if len(members) <= positives or len(others) <= negatives:
            continue
        for trial in range(trials):
            pos = rng.choice(members, positives, replace=False).tolist()
            neg = rng.choice(others, negatives, replace=False).tolist()
            for m in METHODS:
                per_method[m].append(_rounds(codes, relevant, pos, neg, _scorer(m, l2), rounds, mark, k))
            searched.append({"class": name, "trial": trial, "members": int(len(members))})
    if not searched:
        raise ValueError(f"{run_dir}: no class has enough members in the {split} split")
    arrays = {m: np.asarray(v) for m, v in per_method.items()}  # (searches, rounds)
    by_round = []
    for r in range(rounds):
        diff = arrays["classifier"][:, r] - arrays["rocchio"][:, r]
        ci = paired_bootstrap(diff, n_resamples=n_resamples, seed=seed)
        by_round.append(
            {
                "round": r + 1,
                "classifier": float(arrays["classifier"][:, r].mean()),
                "rocchio": float(arrays["rocchio"][:, r].mean()),
                "difference": ci.mean,
                "low": ci.low,
                "high": ci.high,
            }
        )
    per_class = {}
    for name in sorted({s["class"] for s in searched}):
        rows = [i for i, s in enumerate(searched) if s["class"] == name]
        per_class[name] = {m: arrays[m][rows].mean(0).round(4).tolist() for m in METHODS}
    return {
        "run": str(run_dir),
        "split": split,
        "archive_size": int(len(archive)),
        "bits": int(codes.shape[1]),
        "settings": {
            "positives": positives,
            "negatives": negatives,
            "rounds": rounds,
            "mark": mark,
            "k": k,
            "trials": trials,
            "l2": l2,
            "seed": seed,
            "classes": None if classes is None else list(classes),
        },
        "searches": len(searched),
        "classes": len(per_class),
        "by_round": by_round,
        "per_class": per_class,
    }


def choose_l2(run_dir, grid: Sequence[float] = (0.1, 1.0, 10.0), **options) -> tuple[float, list[dict[str, Any]]]:
    """The ``l2`` of ``grid`` with the best round-1 precision of the classifier on the
    validation split (ties: the first), and each candidate's figures."""
    tried = []
    for l2 in grid:
        result = simulate_like_these(run_dir, split="val", l2=l2, n_resamples=200, **options)
        tried.append(
            {"l2": l2, "round1_precision": result["by_round"][0]["classifier"], "searches": result["searches"]}
        )
    best = max(tried, key=lambda t: (t["round1_precision"], -grid.index(t["l2"])))
    return float(best["l2"]), tried


def markdown(result: dict[str, Any], chosen: list[dict[str, Any]] | None = None) -> str:
    """The report text of :func:`simulate_like_these` (and the validation choice)."""
    s = result["settings"]
    lines = [
        "# Find all like these against Rocchio (simulated users)",
        "",
        f"Run `{result['run']}`, {result['bits']} bits; archive = the {result['split']} split "
        f"({result['archive_size']} images). Each search: {s['positives']} ✓ of one class and "
        f"{s['negatives']} ✗ drawn at random, then each round the top {s['mark']} results marked from ground "
        f"truth; {result['searches']} searches ({result['classes']} classes x {s['trials']} trials, seed {s['seed']}). "
        f"Precision@{s['k']} is tie-aware, marked items left out. Classifier l2 = {s['l2']}."
        + (f" Held classes (the only ones searched): {', '.join(s['classes'])}." if s.get("classes") else ""),
        "",
        f"| round | classifier P@{s['k']} | Rocchio P@{s['k']} | difference | 95 % interval |",
        "|---:|---:|---:|---:|---|",
    ]
    for r in result["by_round"]:
        lines.append(
            f"| {r['round']} | {r['classifier']:.4f} | {r['rocchio']:.4f} | {r['difference']:+.4f} "
            f"| [{r['low']:+.4f}, {r['high']:+.4f}] |"
        )
    if chosen:
        lines += ["", "l2 chosen on the validation split (round-1 precision of the classifier):", ""]
        lines += [f"- l2 = {c['l2']}: {c['round1_precision']:.4f} ({c['searches']} searches)" for c in chosen]
    lines += ["", f"Per class (mean P@{s['k']} per round):", "", "| class | classifier | Rocchio |", "|---|---|---|"]
    for name, v in result["per_class"].items():
        fmt = lambda xs: " / ".join(f"{x:.3f}" for x in xs)  # noqa: E731
        lines.append(f"| {name} | {fmt(v['classifier'])} | {fmt(v['rocchio'])} |")
    return "\n".join(lines) + "\n"
