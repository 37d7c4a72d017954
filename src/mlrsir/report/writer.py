"""Write the benchmark report: ``results.json``, ``results.csv``, ``report.md`` and figures.

:func:`write_report` is called by ``mlrsir benchmark`` with one row per method x bits x
seed (schema: docs/ARCHITECTURE.md, "Files shared between steps").
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlrsir.errors import DataError
from mlrsir.report import tables
from mlrsir.report.figures import CURVE_KEYS, write_figures
from mlrsir.report.paper import PAPER_CITATION, PAPER_ODDITIES, PAPER_TABLES, paper_tables_for
from mlrsir.report.stats import DEFAULT_RESAMPLES, compare_methods

# the contract's row columns, in this order first in results.csv
ROW_COLUMNS = [
    "method",
    "bits",
    "seed",
    "dataset",
    "map",
    "map_stable",
    "map_at_100",
    "map_at_100_stable",
    "precision_at_10",
    "precision_at_100",
    "ndcg_at_100",
    "acg_at_100",
    "map_tiebreak",
    "map_asym",
    "all_but_query_map",
    "num_distinct_db_codes",
    "num_queries",
    "num_database",
    "train_seconds",
    "encode_images_per_s",
    "run_dir",
]

_SCALARS = (str, int, float, bool, np.integer, np.floating, np.bool_)


def _jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays -> python, paths -> str, NaN/inf -> None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Path):
        return str(value)
    return value


def _check_rows(rows: Any, name: str) -> list[Mapping[str, Any]]:
    if rows is None:
        return []
    if not isinstance(rows, (list, tuple)):
        raise DataError(f"write_report: {name} must be a list of dicts, got {type(rows).__name__}")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise DataError(f"write_report: {name}[{i}] is a {type(row).__name__}, expected a dict")
    return list(rows)


def scalar_columns(rows: list[Mapping[str, Any]]) -> list[str]:
    """CSV columns: the contract's columns present, then other scalar keys (sorted).

    Curves and any other nested values (dicts, lists) are left out.
    """
    present: set[str] = set()
    for row in rows:
        for k, v in row.items():
            if k in CURVE_KEYS or k == "curves":
                continue
            if v is None or isinstance(v, _SCALARS) or isinstance(v, Path):
                present.add(str(k))
    first = [c for c in ROW_COLUMNS if c in present]
    return first + sorted(present - set(first))


def write_json(rows: list[Mapping[str, Any]], path: Path) -> Path:
    path.write_text(json.dumps(_jsonable(list(rows)), indent=1) + "\n", encoding="utf-8")
    return path


def write_csv(rows: list[Mapping[str, Any]], path: Path) -> Path:
    """One line per row, every scalar column (curves omitted); missing values empty."""
    columns = scalar_columns(rows)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            values = []
            for c in columns:
                v = _jsonable(row.get(c))
                values.append("" if v is None or isinstance(v, (dict, list)) else v)
            writer.writerow(values)
    return path


def _protocol_text(protocol: str = "paper") -> str:
    if protocol == "unseen-scenes":
        first = [
            "- **Unseen scenes**: training (and validation) use the images of 15 of the 21 UCM scene classes;",
            "  queries (30 % of each remaining scene) and database (the other 70 %) are the images of the other 6",
            "  scenes, whose labels come from the same 17 classes. The 15/6 division is drawn from the split",
            "  seed and saved with the scene lists in each run's `split.json`.",
        ]
    else:
        first = ["- Queries: the test split; database: the training split (train ∪ val, the paper's 70 % part)."]
    return "\n".join(
        [
            *first,
            "- Relevance: a database image is relevant to a query when they share at least one label.",
            "- Ranking: Hamming distance for hashing methods (asymmetric quantization distance for DQN/DTQ).",
            "- Headline mAP is **tie-aware** (expected average precision over all orders of items at equal",
            "  distance, He et al. CVPR 2018); **stable-sort** mAP (ties broken by database index) is given",
            "  beside it. mAP is over the whole database (mAP@all); queries without a relevant item count as 0.",
            "- mAP@100: average precision over the top 100, divided by the relevant items found there.",
            "- P@K: precision of the top K retrieved images.",
        ]
    )


def _figure_section(figures: dict[str, Path], out_dir: Path, bits: list[int]) -> list[str]:
    def link(name: str, alt: str) -> str:
        rel = Path(figures[name]).resolve().relative_to(out_dir.resolve()).as_posix()
        return f"![{alt}]({rel})"

    lines = []
    if "map_vs_bits" in figures:
        lines += ["### mAP against code length", "", link("map_vs_bits", "mAP against code length"), ""]
    for b in bits:
        pieces = [
            link(n, a)
            for n, a in (
                (f"precision_at_n_{b}bits", f"precision at N, {b} bits"),
                (f"pr_{b}bits", f"precision-recall, {b} bits"),
            )
            if n in figures
        ]
        if pieces:
            lines += [f"### {b} bits", "", *pieces, ""]
    if not lines:
        return ["_no curves in the results_", ""]
    return [
        "Curves are averaged over seeds (tie-aware precision/recall where available); "
        "line labels give the number of seeds.",
        "",
        *lines,
    ]


def _paper_sources() -> list[str]:
    lines = [f"Paper figures: {PAPER_CITATION}."]
    for t in PAPER_TABLES:
        known = t.known_methods()
        if known:
            names = ", ".join(tables.method_title(m) for m in known)
            lines.append(f"- {t.name} ({t.title}): {names}; {t.sources.get(known[0], 'as published')}.")
        else:
            lines.append(f'- {t.name} ({t.title}): no value known (printed as "{tables.UNKNOWN}").')
    lines.append(f"- Note on the published tables: {PAPER_ODDITIES}")
    return lines


def _statistics_section(rows: list[Mapping[str, Any]], n_resamples: int) -> list[str]:
    """MLRSIR-NET against each baseline: paired bootstrap over queries (report/stats.py)."""
    md = [
        "## MLRSIR-NET against each baseline (paired bootstrap over queries)",
        "",
        f"Δ mAP = MLRSIR-NET minus baseline (tie-aware mAP@all, each method's own ranking), paired by "
        f"bit length and seed (same queries); {n_resamples:,} resamples of the queries (within each seed), "
        "95 % percentile interval. A difference is a **win** only when its interval excludes 0 "
        '(above 0); "not separated" when it contains 0. *Δ per seed*: the mean difference over each '
        "seed's queries (each seed draws its own split; in the unseen-scenes protocol, its own scene "
        "division).",
        "",
        tables.bootstrap_table(compare_methods(rows, n_resamples=n_resamples)),
        "",
    ]
    tb = compare_methods(
        [r for r in rows if tables.is_hashing_method(r.get("method"))],
        per_query_key="per_query_ap_tiebreak",
        n_resamples=n_resamples,
    )
    if tb:
        md += [
            "### Hashing methods, Hamming ranking with asymmetric tie-break",
            "",
            "The same test on `map_tiebreak` (MLRSIR-NET, DHN, DCH only; never mixed with the table above).",
            "",
            tables.bootstrap_table(tb),
            "",
        ]
    return md


def _table_section(heading: str, text: str, table: str) -> list[str]:
    """A Markdown section: ``heading`` (with its ``#``), an optional paragraph, a table."""
    return [heading, "", *([text, ""] if text else []), table, ""]


def _query_side_section(rows: list[Mapping[str, Any]]) -> list[str]:
    """Rankings that use the query's real-valued output (hashing methods), own tables."""
    hashing = [r for r in rows if tables.is_hashing_method(r.get("method"))]
    md: list[str] = []
    if any(tables.finite_value(r, "map_tiebreak") is not None for r in hashing):
        md += [
            "## Ranking with the query's real-valued output (hashing methods)",
            "",
            "The database holds binary codes b only; the query's tanh output h is known. "
            "*Tie-break*: Hamming distance, ties broken by the asymmetric score -<h, 2b-1> "
            "(what still ties — identical codes — is averaged tie-aware). *Asymmetric*: ranking by "
            "-<h, 2b-1> alone. Not comparable with the symmetric Hamming tables above.",
            "",
        ]
        md += _table_section(
            "### mAP@all, Hamming with asymmetric tie-break", "", tables.metric_table(hashing, "map_tiebreak")
        )
        md += _table_section("### mAP@all, asymmetric score alone", "", tables.metric_table(hashing, "map_asym"))
    if any(tables.finite_value(r, "all_but_query_map") is not None for r in rows):
        md += _table_section(
            "## Database = all but the query",
            "Every protocol image other than the query (queries ∪ database) is ranked; tie-aware mAP@all.",
            tables.metric_table(rows, "all_but_query_map"),
        )
    if any(tables.finite_value(r, "num_distinct_db_codes") is not None for r in rows):
        md += _table_section(
            "## Distinct database codes",
            "Number of distinct codes (hashing) or codebook assignments (DQN, DTQ) in the database. "
            "A quantizer whose assignments are nearly one per item almost memorises the database: "
            "its asymmetric distances then behave like a real-valued nearest-neighbour search, which "
            "is where part of a quantizer's lead can come from.",
            tables.metric_table(rows, "num_distinct_db_codes", digits=1),
        )
    return md


FULL_VARIANT_PREFIX = "full"  # the ablation table's reference row, e.g. "full (default preset)"


def ablation_comparisons(ablations: list[Mapping[str, Any]], n_resamples: int) -> list[dict[str, Any]]:
    """Paired bootstrap of each ablation against its reference, per bit length, paired by seed.

    References: the full model (the variant named ``full ...``) against every other variant,
    and a variant ``"A, without B"`` against ``"A"`` when ``A`` was run (e.g. CBAM's effect
    with a frozen backbone). Each dict is :func:`compare_methods`'s, plus ``reference``;
    ``mean`` is reference minus variant (positive: the removed part helps).
    """
    rows = [dict(r, method=str(r.get("variant"))) for r in ablations if r.get("variant") is not None]
    names = list(dict.fromkeys(r["method"] for r in rows))
    pairs = [(ref, v) for ref in names if ref.startswith(FULL_VARIANT_PREFIX) for v in names if v != ref]
    pairs += [(v.rsplit(", without ", 1)[0], v) for v in names if ", without " in v]
    out = []
    for ref, variant in pairs:
        if ref not in names:
            continue
        for c in compare_methods(rows, ours=ref, baselines=[variant], n_resamples=n_resamples):
            out.append(dict(c, reference=ref, variant=variant))
    return out


def _ablation_statistics_section(ablations: list[Mapping[str, Any]], n_resamples: int) -> list[str]:
    comparisons = ablation_comparisons(ablations, n_resamples)
    if not comparisons:
        return []
    body = [[c["reference"], c["variant"], *tables.bootstrap_cells(c)] for c in comparisons]
    header = ["Reference", "Variant", *tables.bootstrap_header("Δ mAP (reference − variant)")]
    return [
        "### Ablations against their reference (paired bootstrap over queries)",
        "",
        f"Tie-aware mAP@all, paired by bit length and seed (same queries), {n_resamples:,} resamples within "
        "each seed, 95 % percentile interval. A positive Δ whose interval excludes 0 means the removed part "
        "helps; an interval containing 0 means it makes no measurable difference.",
        "",
        tables.markdown_table(header, body, align_right_from=2),
        "",
    ]


def render_report(
    rows: list[Mapping[str, Any]],
    *,
    figures: dict[str, Path],
    out_dir: Path,
    floors: Mapping[str, Any] | None = None,
    ablations: list[Mapping[str, Any]] | None = None,
    dataset_note: str = "",
    settings: Mapping[str, Any] | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> str:
    """The Markdown text of ``report.md``."""
    datasets = sorted({str(r["dataset"]) for r in rows if r.get("dataset")})
    bits = tables.bits_of(rows)
    md = ["# MLRSIR benchmark report", ""]
    if datasets:
        md += [
            f"Dataset: {', '.join(datasets)}. Methods: "
            f"{', '.join(tables.method_title(m) for m in tables.methods_of(rows)) or tables.MISSING}. "
            f"Bit lengths: {', '.join(map(str, bits)) or tables.MISSING}.",
            "",
        ]
    if dataset_note:
        md += [
            f"> **Dataset caveat.** {dataset_note}. The paper's figures are for DLRSD and WHDLD, so they are "
            "a reference, not a like-for-like comparison.",
            "",
        ]
    no_bits = sum(1 for r in rows if tables.as_bits(r.get("bits")) is None)
    if no_bits:
        md += [
            f"> **Warning.** {no_bits} of {len(rows)} result rows have no bit length and are left out "
            "of the tables and figures below (they are in `results.csv`).",
            "",
        ]
    protocol = str((settings or {}).get("protocol") or "paper")
    md += ["## Protocol", "", _protocol_text(protocol), ""]

    md += [
        "## Table 1: mAP@all (tie-aware, headline)",
        "",
        tables.metric_table(rows, "map", paper=paper_tables_for("map")),
        "",
    ]
    md += [
        "### mAP@all (stable sort)",
        "",
        tables.metric_table(rows, "map_stable", paper=paper_tables_for("map_stable")),
        "",
        "The paper does not say how it orders items at equal Hamming distance, so its figure "
        "is shown beside both rankings.",
        "",
    ]
    for key, title in (
        ("precision_at_10", "Tables 2-3: precision of the top 10 (P@10, stable sort)"),
        ("precision_at_100", "Tables 2-3: precision of the top 100 (P@100, stable sort)"),
    ):
        table = paper_tables_for(key)
        md += [f"## {title}", "", tables.metric_table(rows, key, paper=table), ""]
        tie_key = f"{key}_tie_aware"
        if any(tables.finite_value(r, tie_key) is not None for r in rows):
            md += [
                f"### {tables.METRIC_LABELS.get(tie_key, tie_key)}",
                "",
                tables.metric_table(rows, tie_key, paper=table),
                "",
            ]
    md += [
        "## mAP@100",
        "",
        "### Tie-aware",
        "",
        tables.metric_table(rows, "map_at_100"),
        "",
        "### Stable sort",
        "",
        tables.metric_table(rows, "map_at_100_stable"),
        "",
    ]
    md += [
        "## Other metrics",
        "",
        tables.grouped_metrics_table(rows, ["ndcg_at_100", "acg_at_100", "train_seconds", "encode_images_per_s"]),
        "",
    ]
    md += _statistics_section(rows, n_resamples)
    md += _query_side_section(rows)
    md += ["## Floors (chance level)", ""]
    if floors:
        md += [
            tables.floors_table(floors),
            "",
            "Random ranking: the database in a random order. Random codes: random bits of each "
            "length ranked by Hamming distance. Mean ± std over the given number of draws (n).",
            "",
        ]
    else:
        md += ["_not computed_", ""]
    if ablations:
        md += ["## Ablations (MLRSIR-NET, mAP@all tie-aware)", "", tables.ablation_table(ablations, "map"), ""]
        md += _ablation_statistics_section(ablations, n_resamples)
        if any(tables.finite_value(r, "map_stable") is not None for r in ablations):
            md += ["### Ablations, mAP@all (stable sort)", "", tables.ablation_table(ablations, "map_stable"), ""]
    md += ["## Figures", "", *_figure_section(figures, out_dir, bits)]
    md += ["## Settings", "", tables.settings_table(settings or {}), ""]
    md += [
        "## Sources",
        "",
        *_paper_sources(),
        "",
        "Per-run values: `results.csv` (scalars) and `results.json` (with curves).",
        "",
    ]
    return "\n".join(md)


def write_report(
    rows: list[dict],
    out_dir,
    *,
    floors: dict | None = None,
    ablations: list[dict] | None = None,
    dataset_note: str = "",
    settings: dict | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> dict[str, Path]:
    """Write the benchmark report into ``out_dir`` (created if needed).

    Args:
        rows: one dict per method x bits x seed (scalar metrics, ``curves``; see
            docs/ARCHITECTURE.md). Curves may also sit at the row's top level.
        floors: ``{"random_ranking": {"mean", "std"[, "n"]}, "random_codes": {"12": {...}}}``.
        ablations: rows with a ``variant`` name (plus ``bits``, ``seed`` and metrics).
        dataset_note: caveat about the data (e.g. UCM images with Chaudhuri et al. labels).
        settings: printed as a table (iterations, budget, seeds, machine, git revision, ...);
            its ``protocol`` ("paper" | "unseen-scenes") chooses the protocol text.
        n_resamples: bootstrap resamples of the MLRSIR-NET-against-baseline statistics.

    Returns:
        ``{name: path}``: ``results_json``, ``results_csv``, ``report_md``, ``ablations_json``
        and ``ablations_csv`` (when ablations are given) and one entry per figure
        (``figure_map_vs_bits``, ``figure_precision_at_n_32bits``, ``figure_pr_32bits``, ...).
    """
    rows = _check_rows(rows, "rows")
    ablations = _check_rows(ablations, "ablations")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {
        "results_json": write_json(rows, out / "results.json"),
        "results_csv": write_csv(rows, out / "results.csv"),
    }
    if ablations:
        paths["ablations_json"] = write_json(ablations, out / "ablations.json")
        paths["ablations_csv"] = write_csv(ablations, out / "ablations.csv")
    figures = write_figures(rows, out / "figures")
    paths.update({f"figure_{name}": p for name, p in figures.items()})
    text = render_report(
        rows,
        figures=figures,
        out_dir=out,
        floors=floors,
        ablations=ablations,
        dataset_note=dataset_note.rstrip(". "),
        settings=settings,
        n_resamples=n_resamples,
    )
    report = out / "report.md"
    report.write_text(text, encoding="utf-8")
    paths["report_md"] = report
    return paths
