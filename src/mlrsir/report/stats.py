"""Paired bootstrap over queries: is MLRSIR-NET's mAP really above a baseline's?

For one pair of runs on the same queries (same split seed, so the same query list), the
per-query difference ``delta_q = AP_mlrsir(q) - AP_baseline(q)`` is resampled over queries
with replacement (``n_resamples`` times, 10,000 by default); the mAP difference of each
resample is the mean of its deltas. With several seeds, each seed's queries are resampled
within that seed (a stratified bootstrap) and the difference is the mean over seeds of the
per-seed mean. The 95 % interval is the percentile interval (2.5 % and 97.5 % quantiles).

Verdict (:func:`verdict`): **win** only when the whole interval lies above 0, **loss**
when it lies below 0, otherwise **not separated** (the interval contains 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 10_000


@dataclass(frozen=True)
class BootstrapResult:
    """Observed mean difference, its percentile interval, and the units behind it."""

    mean: float
    low: float
    high: float
    num_queries: int
    num_seeds: int
    level: float = 0.95


def paired_bootstrap(
    differences: Sequence[np.ndarray] | np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Percentile interval of the mean of per-query differences.

    Args:
        differences: one 1-d array of per-query differences, or a sequence of them (one per
            seed; each resampled within itself, the statistic = mean of the per-seed means).
        n_resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: seed of the resampling generator (the result is deterministic).
    """
    groups = [np.asarray(differences, dtype=np.float64)] if isinstance(differences, np.ndarray) else None
    if groups is None:
        groups = [np.asarray(d, dtype=np.float64).ravel() for d in differences]
    groups = [g for g in groups if g.size]
    if not groups:
        raise ValueError("paired_bootstrap: no differences given")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    stats = np.zeros(int(n_resamples), dtype=np.float64)
    for g in groups:
        # resample in blocks to bound memory (n_resamples x len(g) indices)
        block = max(1, (1 << 22) // g.size)
        for start in range(0, int(n_resamples), block):
            stop = min(int(n_resamples), start + block)
            idx = rng.integers(0, g.size, size=(stop - start, g.size))
            stats[start:stop] += g[idx].mean(axis=1)
    stats /= len(groups)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    observed = float(np.mean([g.mean() for g in groups]))
    return BootstrapResult(
        mean=observed,
        low=float(low),
        high=float(high),
        num_queries=int(sum(g.size for g in groups)),
        num_seeds=len(groups),
        level=float(level),
    )


def verdict(result: BootstrapResult) -> str:
    """``"win"`` (interval above 0), ``"loss"`` (below 0) or ``"not separated"``."""
    if result.low > 0.0:
        return "win"
    if result.high < 0.0:
        return "loss"
    return "not separated"


def _per_query(row: Mapping[str, Any], key: str) -> np.ndarray | None:
    values = row.get(key)
    if not isinstance(values, (list, tuple, np.ndarray)) or len(values) == 0:
        return None
    return np.asarray(values, dtype=np.float64)


def compare_methods(
    rows: Iterable[Mapping[str, Any]],
    *,
    ours: str = "mlrsir",
    per_query_key: str = "per_query_ap",
    baseline_key: str | None = None,
    baselines: Iterable[str] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired bootstrap of ``ours`` against each other method, per bit length.

    Runs are paired by ``(bits, seed)``; a pair is used only when both rows carry
    per-query APs (``per_query_key`` for ours, ``baseline_key`` -- default the same --
    for the baseline) of the same length. Returns one dict per (baseline, bits):
    ``baseline, bits, mean, low, high, verdict, num_seeds, num_queries`` and ``per_seed``,
    ``[(seed, mean difference over that seed's queries), ...]`` (in the unseen-scenes
    protocol each seed is its own scene division, so one division can carry a verdict).
    """
    rows = list(rows)
    baseline_key = baseline_key or per_query_key
    by_key: dict[tuple[str, int, Any], Mapping[str, Any]] = {}
    for r in rows:
        if r.get("method") is None or r.get("bits") is None:
            continue
        by_key[(str(r["method"]), int(r["bits"]), r.get("seed"))] = r
    others = sorted({m for m, _, _ in by_key if m != ours}) if baselines is None else list(baselines)
    out = []
    for base in others:
        for bits in sorted({b for m, b, _ in by_key if m == ours}):
            diffs, per_seed = [], []
            for (m, b, s), row in sorted(by_key.items(), key=lambda kv: str(kv[0])):
                if m != ours or b != bits or (base, bits, s) not in by_key:
                    continue
                a = _per_query(row, per_query_key)
                c = _per_query(by_key[(base, bits, s)], baseline_key)
                if a is None or c is None or a.shape != c.shape:
                    continue
                diffs.append(a - c)
                per_seed.append((s, float(np.mean(a - c))))
            if not diffs:
                continue
            res = paired_bootstrap(diffs, n_resamples=n_resamples, seed=seed)
            out.append(
                {
                    "baseline": base,
                    "bits": bits,
                    "mean": res.mean,
                    "low": res.low,
                    "high": res.high,
                    "verdict": verdict(res),
                    "num_seeds": res.num_seeds,
                    "num_queries": res.num_queries,
                    "per_seed": per_seed,
                }
            )
    return out
