"""Plain-text tables for the command line."""

from __future__ import annotations

from typing import Any

# (key, label) of the metrics printed by train / evaluate, in order
MAIN_METRICS = [
    ("map", "mAP@all (tie-aware)"),
    ("map_stable", "mAP@all (stable sort)"),
    ("map_at_100", "mAP@100 (tie-aware)"),
    ("map_at_100_stable", "mAP@100 (stable sort)"),
    ("precision_at_10", "P@10"),
    ("precision_at_100", "P@100"),
    ("ndcg_at_100", "NDCG@100"),
    ("acg_at_100", "ACG@100"),
    ("num_queries", "queries"),
    ("num_database", "database items"),
    ("num_queries_without_relevant", "queries without a relevant item"),
]


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics that are single numbers (curves and nested dicts left out)."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool)) or v is None}


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def print_metrics(metrics: dict[str, Any], title: str = "") -> None:
    rows = [(label, format_value(metrics[key])) for key, label in MAIN_METRICS if key in metrics]
    width = max((len(label) for label, _ in rows), default=10)
    if title:
        print(title)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(format_value(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
