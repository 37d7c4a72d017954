"""Aggregation over seeds and Markdown tables of the benchmark report.

A *row* is one benchmark result (one method x bits x seed, see docs/ARCHITECTURE.md,
"Files shared between steps"): scalar metrics such as ``map`` in [0, 1] plus ``method``,
``bits``, ``seed``. Cells aggregate the rows of one (method, bits) over seeds as
``mean ± s`` where ``s`` is the sample standard deviation (denominator n - 1); a cell
with a single seed prints the mean and ``(n=1)``. Missing cells print "—"; paper figures
that are not known print "n/a".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlrsir.methods.base import HASHING
from mlrsir.methods.registry import find_method_class
from mlrsir.report.paper import PAPER_METHODS, PaperTable, as_tables

MISSING = "—"
UNKNOWN = "n/a"

# scalar metrics named in the report, in order (key, label)
METRIC_LABELS = {
    "map": "mAP@all (tie-aware)",
    "map_stable": "mAP@all (stable sort)",
    "map_at_100": "mAP@100 (tie-aware)",
    "map_at_100_stable": "mAP@100 (stable sort)",
    "precision_at_10": "P@10 (stable sort)",
    "precision_at_10_tie_aware": "P@10 (tie-aware)",
    "precision_at_100": "P@100 (stable sort)",
    "precision_at_100_tie_aware": "P@100 (tie-aware)",
    "ndcg_at_100": "NDCG@100",
    "acg_at_100": "ACG@100",
    "train_seconds": "training time (s)",
    "encode_images_per_s": "encoding (images/s)",
    "map_tiebreak": "mAP@all (Hamming, asymmetric tie-break)",
    "map_asym": "mAP@all (asymmetric score alone)",
    "num_distinct_db_codes": "distinct database codes",
    "all_but_query_map": "mAP@all, database = all but the query (tie-aware)",
    "all_but_query_map_tiebreak": "mAP@all, all but the query (tie-break)",
}


# a benchmark row's method key may carry the backbone regime it was trained in when it
# differs from the grid's (``mlrsir benchmark --methods dch:none``): "METHOD:FINETUNE"
FINETUNE_DISPLAY = {
    "none": "frozen backbone",
    "top1": "top stage fine-tuned",
    "top2": "top 2 stages fine-tuned",
    "all": "fine-tuned end to end",
}


def base_method(method: Any) -> str:
    """``"dch:none" -> "dch"``; plain keys unchanged (lower case)."""
    return str(method).lower().partition(":")[0]


def method_title(method: Any) -> str:
    """Printed name of a method key, the method class's ``title``: ``"mlrsir" -> "MLRSIR-NET"``,
    ``"dch:none" -> "DCH (frozen backbone)"``; keys not in the registry as given."""
    base, _, regime = str(method).lower().partition(":")
    cls = find_method_class(base)
    name = cls.title if cls is not None and cls.title else str(method).partition(":")[0]
    return f"{name} ({FINETUNE_DISPLAY.get(regime, regime)})" if regime else name


def is_hashing_method(method: Any) -> bool:
    """True when the method of a row key (``"dch"``, ``"dch:none"``) is a hashing method
    (binary codes, Hamming ranking: the class's ``kind``); False for quantization methods
    and keys not in the registry."""
    cls = find_method_class(base_method(method))
    return cls is not None and cls.kind == HASHING


def method_sort_key(method: Any) -> tuple[int, str]:
    """Paper order first (MLRSIR-NET, DCH, DHN, DTQ, DQN), then other methods by name; a
    regime variant right after its method."""
    keys = list(PAPER_METHODS)
    m = str(method).lower()
    base = base_method(m)
    return (keys.index(base), m) if base in keys else (len(keys), m)


def as_bits(value: Any) -> int | None:
    """Bit length of a row as int (rows may carry ``"32"``); None when absent/invalid."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def finite_value(row: Mapping[str, Any], key: str) -> float | None:
    """``row[key]`` as float when it is a finite number, else None (absent, None, NaN, text)."""
    v = row.get(key)
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class Stat:
    """Summary of one cell: mean, sample std (None when n < 2) and the number of values."""

    mean: float
    std: float | None
    n: int


def summarize(values: Iterable[float]) -> Stat | None:
    """Mean and sample standard deviation (``ddof=1``) of ``values``; None when empty."""
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    if v.size == 0:
        return None
    return Stat(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else None, int(v.size))


def aggregate(
    rows: Iterable[Mapping[str, Any]], metric: str, by: tuple[str, ...] = ("method", "bits")
) -> dict[tuple, Stat]:
    """``{(method, bits): Stat}`` of ``metric`` over the rows of each group (one per seed).

    Rows without a finite ``metric`` are left out of their cell, and rows without a valid
    bit length when grouping by ``bits``. ``bits`` keys are ints.
    """
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        v = finite_value(row, metric)
        if v is None or ("bits" in by and as_bits(row.get("bits")) is None):
            continue
        key = tuple(as_bits(row.get(k)) if k == "bits" else row.get(k) for k in by)
        groups.setdefault(key, []).append(v)
    return {k: summarize(v) for k, v in groups.items()}


def format_number(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def format_stat(stat: Stat | None, digits: int = 4, show_n: bool = False) -> str:
    """``"0.8123 ± 0.0040"``; ``"0.8123 (n=1)"`` for one value; "—" for no value."""
    if stat is None:
        return MISSING
    text = format_number(stat.mean, digits)
    if stat.std is not None:
        text += f" ± {format_number(stat.std, digits)}"
    if show_n or stat.n == 1:
        text += f" (n={stat.n})"
    return text


def format_paper(table: PaperTable, method: str, bits: int, digits: int = 3) -> str:
    """The paper's figure as printed there (3 decimals), "n/a" if unknown, "—" if no cell."""
    if not table.reports(method, bits):
        return MISSING
    v = table.value(method, bits)
    return UNKNOWN if v is None else format_number(v, digits)


def _escape(cell: Any) -> str:
    return str(cell).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[Any], body: list[list[Any]], align_right_from: int = 1) -> str:
    """GitHub Markdown table; columns from ``align_right_from`` on are right-aligned."""
    seps = ["---:" if i >= align_right_from else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(_escape(c) for c in header) + " |", "|" + "|".join(seps) + "|"]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def methods_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Method keys present in ``rows``, in report order."""
    return sorted({str(r.get("method")) for r in rows if r.get("method") is not None}, key=method_sort_key)


def bits_of(rows: Iterable[Mapping[str, Any]]) -> list[int]:
    """Bit lengths present in ``rows``, ascending."""
    return sorted({b for b in (as_bits(r.get("bits")) for r in rows) if b is not None})


def _n_note(stats: Iterable[Stat]) -> tuple[str, bool]:
    """Caption about seeds per cell and whether every cell must show its own n."""
    ns = sorted({s.n for s in stats if s is not None})
    if not ns:
        return "", False
    if len(ns) == 1:
        return f"n = {ns[0]} seed{'s' if ns[0] != 1 else ''} in every cell", False
    return f"n = {ns[0]}–{ns[-1]} seeds per cell (given in each cell)", True


def spread_caption(stats: Iterable[Stat]) -> str:
    note, _ = _n_note(stats)
    text = "Cells: mean ± sample standard deviation (n − 1 denominator) over seeds"
    return text + (f"; {note}." if note else ".")


def metric_table(
    rows: list[Mapping[str, Any]],
    metric: str,
    *,
    paper: PaperTable | Sequence[PaperTable] | None = None,
    extra_bits: Iterable[int] = (),
    digits: int = 4,
) -> str:
    """Methods (rows) x bit lengths (columns) of ``metric``, with the paper's rows beside ours.

    ``paper``: one paper block or several (e.g. DLRSD and WHDLD). Columns are the bit
    lengths of ``rows`` plus those of the paper blocks and ``extra_bits``. Each method run
    here gets a row; under it, one "(paper, DATASET)" row per paper block that has the
    method. Returns the table and a caption.
    """
    papers = as_tables(paper)
    stats = aggregate(rows, metric)
    ours = methods_of(rows)
    bits = set(bits_of(rows)) | set(extra_bits)
    for t in papers:
        bits |= set(t.bits)
    bits = sorted(bits)
    known = {m for t in papers for m in t.known_methods()}
    run_bases = {base_method(m) for m in ours}
    methods = sorted(set(ours) | (known - run_bases), key=method_sort_key)
    _, show_n = _n_note(stats.values())
    body = []
    for m in methods:
        body.append([method_title(m)] + [format_stat(stats.get((m, b)), digits, show_n) for b in bits])
        base = base_method(m)
        if m != base and base in ours:
            continue  # the published row is printed once, under the plain method
        for t in papers:
            if base in t.values:
                name = method_title(base)
                body.append([f"{name} (paper, {t.dataset})"] + [format_paper(t, base, b) for b in bits])
    header = ["Method"] + [f"{b} bits" for b in bits]
    table = markdown_table(header, body) if body else "_no results_"
    caption = spread_caption(stats.values())
    if papers:
        names = "; ".join(f"{t.name} ({t.title})" for t in papers)
        caption += (
            f' Rows marked "paper": the MLRSIR-NET paper, {names}, as published;'
            f' "{UNKNOWN}" = value not known to us, "{MISSING}" = not reported/run.'
        )
    return table + "\n\n" + caption


# decimals printed per metric in the grouped table (others: 4)
METRIC_DIGITS = {"acg_at_100": 3, "train_seconds": 1, "encode_images_per_s": 1}


def grouped_metrics_table(rows: list[Mapping[str, Any]], metrics: list[str], digits: int = 4) -> str:
    """One line per (method, bits), one column per metric (mean ± std over seeds)."""
    metrics = [m for m in metrics if any(finite_value(r, m) is not None for r in rows)]
    if not metrics:
        return "_no results_"
    per_metric = {m: aggregate(rows, m) for m in metrics}
    keys = sorted({k for s in per_metric.values() for k in s}, key=lambda k: (method_sort_key(k[0]), k[1] or 0))
    all_stats = [s for d in per_metric.values() for s in d.values()]
    _, show_n = _n_note(all_stats)
    body = [
        [method_title(m), b if b is not None else MISSING]
        + [format_stat(per_metric[x].get((m, b)), METRIC_DIGITS.get(x, digits), show_n) for x in metrics]
        for m, b in keys
    ]
    header = ["Method", "Bits"] + [METRIC_LABELS.get(x, x) for x in metrics]
    return markdown_table(header, body) + "\n\n" + spread_caption(all_stats)


def ablation_table(ablations: list[Mapping[str, Any]], metric: str = "map", digits: int = 4) -> str:
    """Variants (rows, in first-seen order) x bit lengths (columns) of ``metric``."""
    variants: list[str] = []
    for r in ablations:
        v = str(r.get("variant", r.get("method", "?")))
        if v not in variants:
            variants.append(v)
    rows = [dict(r, variant=str(r.get("variant", r.get("method", "?")))) for r in ablations]
    stats = aggregate(rows, metric, by=("variant", "bits"))
    bits = bits_of(rows)
    _, show_n = _n_note(stats.values())
    body = [[v] + [format_stat(stats.get((v, b)), digits, show_n) for b in bits] for v in variants]
    if not body:
        return "_no ablation results_"
    header = ["Variant"] + [f"{b} bits" for b in bits]
    return markdown_table(header, body) + "\n\n" + spread_caption(stats.values())


def bootstrap_header(delta: str = "Δ mAP") -> list[str]:
    """Column names of :func:`bootstrap_cells`; ``delta`` names the difference column."""
    return ["Bits", delta, "95 % interval", "Verdict", "Seeds", "Queries"]


def bootstrap_cells(c: Mapping[str, Any], digits: int = 4) -> list[Any]:
    """Bits, Δ mAP, its 95 % interval, verdict, seeds and queries of one paired comparison."""
    return [
        c["bits"],
        f"{c['mean']:+.{digits}f}",
        f"[{c['low']:+.{digits}f}, {c['high']:+.{digits}f}]",
        c["verdict"],
        c["num_seeds"],
        c["num_queries"],
    ]


def per_seed_cell(per_seed: Iterable[tuple[Any, float]], digits: int = 4) -> str:
    """``"s0 +0.0100, s1 -0.0414"``: the mean difference of each seed's queries."""
    return ", ".join(f"s{seed} {diff:+.{digits}f}" for seed, diff in per_seed)


def bootstrap_table(comparisons: list[Mapping[str, Any]], digits: int = 4) -> str:
    """Rows of :func:`mlrsir.report.stats.compare_methods`: baseline, bits, mAP difference
    (MLRSIR-NET minus baseline), its 95 % interval, the verdict, the units resampled and
    the difference seed by seed."""
    if not comparisons:
        return "_no paired runs with per-query AP_"
    body = [
        [method_title(c["baseline"]), *bootstrap_cells(c, digits), per_seed_cell(c.get("per_seed", ()), digits)]
        for c in sorted(comparisons, key=lambda c: (method_sort_key(c["baseline"]), c["bits"]))
    ]
    header = ["Baseline", *bootstrap_header(), "Δ per seed"]
    return markdown_table(header, body)


def _floor_cell(entry: Any, digits: int = 4) -> tuple[str, str]:
    """(mean ± std, n) of one floor entry: a dict with mean/std[/n] or a bare number."""
    if isinstance(entry, Mapping):
        mean, std = finite_value(entry, "mean"), finite_value(entry, "std")
        n = entry.get("n", entry.get("trials", entry.get("repeats")))
    else:
        mean, std, n = finite_value({"v": entry}, "v"), None, None
    if mean is None:
        return MISSING, MISSING
    text = format_number(mean, digits) + (f" ± {format_number(std, digits)}" if std is not None else "")
    return text, (str(n) if n is not None else MISSING)


def floors_table(floors: Mapping[str, Any], digits: int = 4) -> str:
    """The chance levels: random ranking (one value) and random codes per bit length."""
    body = []
    if "random_ranking" in floors:
        body.append(["random ranking", "any", *_floor_cell(floors["random_ranking"], digits)])
    codes = floors.get("random_codes") or {}
    if isinstance(codes, Mapping):
        for b in sorted(codes, key=lambda k: (as_bits(k) is None, as_bits(k) or 0, str(k))):
            body.append(["random codes", str(b), *_floor_cell(codes[b], digits)])
    for name, entry in floors.items():  # any further floor kinds, printed as they come
        if name not in ("random_ranking", "random_codes"):
            body.append([name.replace("_", " "), "any", *_floor_cell(entry, digits)])
    if not body:
        return "_no floors_"
    return markdown_table(["Floor", "Bits", "mAP@all (mean ± std)", "n"], body, align_right_from=2)


def _settings_value(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_settings_value(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple)):
        return ", ".join(_settings_value(v) for v in value) or MISSING
    return str(value)


def settings_table(settings: Mapping[str, Any]) -> str:
    """Two-column table of run settings (nested dicts/lists printed inline)."""
    body = [[str(k).replace("_", " "), _settings_value(v)] for k, v in settings.items()]
    return markdown_table(["Setting", "Value"], body, align_right_from=99) if body else "_none given_"
