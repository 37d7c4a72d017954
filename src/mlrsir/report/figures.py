"""Figures of the benchmark report (PNG, matplotlib without pyplot, so headless and safe).

Curve formats (from :mod:`mlrsir.metrics.curves`, read defensively):

* ``precision_at_n``: ``{"n": [int], "precision": [float], "precision_tie_aware": [float]}``
* ``pr_by_rank``: ``{"n": [int], "precision", "recall", "precision_tie_aware",
  "recall_tie_aware": [float | None]}``
* ``pr_by_radius``: ``{"radius": [0..k], "precision", "recall": [float | None], ...}`` or None
  (quantization methods with float distances).

A row holds them under ``row["curves"]`` or at its top level. Tie-aware values are used
when every seed has them (the headline ranking), else the stable-sort ones. Curves are
averaged over seeds point by point; when the seeds' grids differ (e.g. a different
database size), each is linearly interpolated onto the first seed's grid within the
common range.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from mlrsir.report.paper import TABLE1_MAP
from mlrsir.report.tables import (
    aggregate,
    as_bits,
    bits_of,
    method_title,
    methods_of,
)

CURVE_KEYS = ("pr_by_radius", "pr_by_rank", "precision_at_n")


def row_curves(row: Mapping[str, Any]) -> dict[str, Any]:
    """The curve dicts of a row, from ``row["curves"]`` or the row itself (None dropped)."""
    nested = row.get("curves") if isinstance(row.get("curves"), Mapping) else {}
    out = {}
    for key in CURVE_KEYS:
        value = nested.get(key, row.get(key))
        if isinstance(value, Mapping):
            out[key] = value
    return out


def _as_float_array(values) -> np.ndarray:
    """List of numbers/None -> float64 array with NaN for None."""
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _pick_key(curves: list[Mapping[str, Any]], base: str) -> str | None:
    """``base + "_tie_aware"`` when every curve has it, else ``base`` when every curve has it."""
    for key in (base + "_tie_aware", base):
        if curves and all(isinstance(c.get(key), (list, tuple)) for c in curves):
            return key
    return None


def mean_curve(curves: list[Mapping[str, Any]], x_key: str, y_bases: tuple[str, ...]) -> dict[str, Any] | None:
    """Mean over seeds of the curves' ``y`` lists as functions of ``x_key``.

    Returns ``{"x": array, "<base>": array, "keys": {base: key used}}`` or None when a
    curve lacks the keys or lengths disagree. NaN (from None) points are ignored in the mean.
    """
    curves = [c for c in curves if isinstance(c.get(x_key), (list, tuple)) and len(c[x_key]) > 0]
    if not curves:
        return None
    keys = {base: _pick_key(curves, base) for base in y_bases}
    if any(k is None for k in keys.values()):
        return None
    xs = [_as_float_array(c[x_key]) for c in curves]
    ys = {b: [_as_float_array(c[k]) for c in curves] for b, k in keys.items()}
    if any(len(y) != len(x) for b in ys for x, y in zip(xs, ys[b])):
        return None
    grid = xs[0]
    if not all(x.shape == grid.shape and np.array_equal(x, grid) for x in xs):
        lo, hi = max(np.nanmin(x) for x in xs), min(np.nanmax(x) for x in xs)
        grid = grid[(grid >= lo) & (grid <= hi)]
        if grid.size == 0:
            return None
        for b in ys:
            resampled = []
            for x, y in zip(xs, ys[b]):
                ok = np.isfinite(x) & np.isfinite(y)
                order = np.argsort(x[ok], kind="stable")
                resampled.append(
                    np.interp(grid, x[ok][order], y[ok][order]) if ok.any() else np.full(grid.shape, np.nan)
                )
            ys[b] = resampled
    out: dict[str, Any] = {"x": grid, "keys": keys, "n": len(curves)}
    for b, arrays in ys.items():
        stack = np.vstack(arrays)
        with np.errstate(invalid="ignore"):
            count = np.isfinite(stack).sum(axis=0)
            total = np.where(np.isfinite(stack), stack, 0.0).sum(axis=0)
            out[b] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return out


def _rows_at(rows: list[Mapping[str, Any]], method: str, bits: int) -> list[Mapping[str, Any]]:
    return [r for r in rows if str(r.get("method")) == method and as_bits(r.get("bits")) == bits]


def method_colors(rows: list[Mapping[str, Any]]) -> dict[str, str]:
    """One matplotlib colour per method, the same in every figure of a report."""
    return {m: f"C{i % 10}" for i, m in enumerate(methods_of(rows))}


def _method_curves(rows, bits: int, curve_key: str, x_key: str, y_bases: tuple[str, ...]):
    """``[(method, mean curve)]`` of the methods having ``curve_key`` at ``bits``."""
    out = []
    for m in methods_of(rows):
        curves = [row_curves(r).get(curve_key) for r in _rows_at(rows, m, bits)]
        curves = [c for c in curves if c is not None]
        mc = mean_curve(curves, x_key, y_bases) if curves else None
        if mc is not None:
            out.append((m, mc))
    return out


def _ranking_word(keys: dict[str, str]) -> str:
    return "tie-aware" if all(k.endswith("_tie_aware") for k in keys.values()) else "stable sort"


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def plot_precision_at_n(rows: list[Mapping[str, Any]], bits: int, path: Path) -> Path | None:
    """Precision against the number of retrieved images at ``bits``, one line per method."""
    lines = _method_curves(rows, bits, "precision_at_n", "n", ("precision",))
    if not lines:
        return None
    colors = method_colors(rows)
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    for m, mc in lines:
        ax.plot(
            mc["x"],
            mc["precision"],
            marker="o",
            markersize=3,
            color=colors[m],
            label=f"{method_title(m)} (n={mc['n']})",
        )
    ax.set_xscale("log")
    ax.set_xlabel("number of retrieved images N")
    ax.set_ylabel(f"precision@N ({_ranking_word(lines[0][1]['keys'])})")
    ax.set_title(f"Precision@N, {bits} bits (mean over seeds)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_precision_recall(rows: list[Mapping[str, Any]], bits: int, path: Path) -> Path | None:
    """Precision-recall at ``bits``: by rank cut-off, and by Hamming radius when present."""
    by_rank = _method_curves(rows, bits, "pr_by_rank", "n", ("precision", "recall"))
    by_radius = _method_curves(rows, bits, "pr_by_radius", "radius", ("precision", "recall"))
    if not by_rank and not by_radius:
        return None
    panels = [(p, t) for p, t in ((by_rank, "by rank cut-off"), (by_radius, "by Hamming radius")) if p]
    colors = method_colors(rows)
    fig = Figure(figsize=(5.2 * len(panels), 3.8))
    for i, (lines, title) in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        for m, mc in lines:
            ax.plot(
                mc["recall"],
                mc["precision"],
                marker="o" if title.endswith("radius") else None,
                markersize=3,
                color=colors[m],
                label=f"{method_title(m)} (n={mc['n']})",
            )
        word = _ranking_word(lines[0][1]["keys"]) if title.endswith("cut-off") else "whole radius"
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_title(f"PR {title}, {bits} bits ({word})", fontsize=10)
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_map_vs_bits(rows: list[Mapping[str, Any]], path: Path, metric: str = "map") -> Path | None:
    """``metric`` against bit length, one line per method (error bars: sample std over seeds),
    with the paper's MLRSIR-NET figures (DLRSD, Table 1) as a dotted reference line."""
    stats = aggregate(rows, metric)
    if not stats:
        return None
    colors = method_colors(rows)
    fig = Figure(figsize=(5.2, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    ticks = set(bits_of(rows))
    for m in methods_of(rows):
        pts = [(b, stats[(m, b)]) for b in bits_of(rows) if (m, b) in stats]
        if not pts:
            continue
        ax.errorbar(
            [b for b, _ in pts],
            [s.mean for _, s in pts],
            yerr=[s.std if s.std is not None else 0.0 for _, s in pts],
            marker="o",
            capsize=3,
            color=colors[m],
            label=method_title(m),
        )
    if metric in TABLE1_MAP.metrics:
        for m in TABLE1_MAP.known_methods():
            pts = [(b, TABLE1_MAP.value(m, b)) for b in TABLE1_MAP.bits if TABLE1_MAP.value(m, b) is not None]
            ax.plot(
                [b for b, _ in pts],
                [v for _, v in pts],
                linestyle=":",
                marker="x",
                color=colors.get(m, "gray"),
                alpha=0.7,
                label=f"{method_title(m)} (paper, DLRSD)",
            )
            ticks |= {b for b, _ in pts}
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel("code length (bits)")
    ax.set_ylabel("mAP@all (tie-aware)" if metric == "map" else metric)
    ax.set_title("mAP against code length (error bars: sample std)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_figures(rows: list[Mapping[str, Any]], fig_dir: str | Path) -> dict[str, Path]:
    """Every figure the rows allow; returns ``{name: path}`` (names such as
    ``map_vs_bits``, ``precision_at_n_32bits``, ``pr_32bits``)."""
    fig_dir = Path(fig_dir)
    written: dict[str, Path] = {}
    p = plot_map_vs_bits(rows, fig_dir / "map_vs_bits.png")
    if p is not None:
        written["map_vs_bits"] = p
    for b in bits_of(rows):
        p = plot_precision_at_n(rows, b, fig_dir / f"precision_at_n_{b}bits.png")
        if p is not None:
            written[f"precision_at_n_{b}bits"] = p
        p = plot_precision_recall(rows, b, fig_dir / f"pr_{b}bits.png")
        if p is not None:
            written[f"pr_{b}bits"] = p
    return written
