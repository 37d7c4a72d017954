"""Figures published in the MLRSIR-NET paper (DLRSD and WHDLD), as data, to print beside ours.

Paper: Moustafa, Ahmed, Hamed, "Learning to Hash with Convolutional Network for
Multi-label Remote Sensing Image Retrieval" (MLRSIR-NET). All rows of its three tables,
copied as published (``/work/shared/paper/mlrsir-net-figures.md``, the project's copy of
the tables):

* Table 1: mAP on DLRSD and on WHDLD at 12/24/32/48 bits for MLRSIR-NET, DCH, DHN, DTQ, DQN.
* Table 2: DLRSD, precision of the top 10 and of the top 100 at 12/36/48 bits.
* Table 3: WHDLD, precision of the top 10 and of the top 100 at 12/36/48 bits.

Each :class:`PaperTable` holds one (metric, dataset) block; the report prints a
"(paper, DLRSD)" and a "(paper, WHDLD)" row under each of our methods. Oddities of the
published tables are reported, not "fixed" (:data:`PAPER_ODDITIES`).

The paper does not say how it ranks items at equal Hamming distance, so its mAP is shown
beside both our tie-aware and our stable-sort mAP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

PAPER_CITATION = (
    "Moustafa, Ahmed, Hamed: Learning to Hash with Convolutional Network for "
    "Multi-label Remote Sensing Image Retrieval (MLRSIR-NET)"
)

SOURCE_TABLES = "copied from the paper's tables (all methods, as published)"

PAPER_ODDITIES = (
    "The published tables have oddities, reported as printed: MLRSIR-NET's WHDLD mAP is not monotone "
    "in code length (0.987 at 24 bits, 0.919 at 32 bits); on DLRSD at 12 bits the P@10 of DCH, DHN and "
    "DQN equals their mAP (0.761, 0.577, 0.696), which suggests copied cells. Neither DLRSD's nor "
    "WHDLD's labels are the UCM multi-labels used here, so these rows are a reference, not a "
    "like-for-like comparison."
)

# methods of the paper's comparison, in the paper's order (our method keys)
PAPER_METHODS = ("mlrsir", "dch", "dhn", "dtq", "dqn")


@dataclass(frozen=True)
class PaperTable:
    """One (metric, dataset) block of a paper table: ``values[method][bits]`` (float in
    [0, 1] or None = unknown). ``metrics`` lists our row keys this block is compared with.
    """

    name: str
    title: str
    dataset: str
    bits: tuple[int, ...]
    metrics: tuple[str, ...]
    values: dict[str, dict[int, float | None]]
    sources: dict[str, str] = field(default_factory=dict)

    def value(self, method: str, bits: int) -> float | None:
        """The paper's figure, or None when unknown or not reported at ``bits``."""
        return self.values.get(method, {}).get(int(bits))

    def reports(self, method: str, bits: int) -> bool:
        """Whether the paper's table has a cell for (method, bits) at all (known or not)."""
        return method in self.values and int(bits) in self.bits

    def known_methods(self) -> list[str]:
        """Methods with at least one known value."""
        return [m for m, v in self.values.items() if any(x is not None for x in v.values())]


# The paper's three tables, one line per (table, dataset, metric, method), values in the
# order of the table's code lengths (Table 1: 12/24/32/48 bits; Tables 2-3: 12/36/48 bits).
_PUBLISHED = """
Table 1 | DLRSD | map  | mlrsir | 0.854 0.872 0.908 0.929
Table 1 | DLRSD | map  | dch    | 0.761 0.803 0.848 0.873
Table 1 | DLRSD | map  | dhn    | 0.577 0.604 0.638 0.694
Table 1 | DLRSD | map  | dtq    | 0.834 0.857 0.878 0.898
Table 1 | DLRSD | map  | dqn    | 0.696 0.705 0.744 0.766
Table 1 | WHDLD | map  | mlrsir | 0.938 0.987 0.919 0.946
Table 1 | WHDLD | map  | dch    | 0.779 0.832 0.861 0.890
Table 1 | WHDLD | map  | dhn    | 0.581 0.628 0.671 0.698
Table 1 | WHDLD | map  | dtq    | 0.814 0.869 0.884 0.902
Table 1 | WHDLD | map  | dqn    | 0.722 0.732 0.756 0.826
Table 2 | DLRSD | p10  | mlrsir | 0.884 0.914 0.935
Table 2 | DLRSD | p10  | dch    | 0.761 0.721 0.771
Table 2 | DLRSD | p10  | dhn    | 0.577 0.599 0.625
Table 2 | DLRSD | p10  | dtq    | 0.804 0.844 0.868
Table 2 | DLRSD | p10  | dqn    | 0.696 0.732 0.759
Table 2 | DLRSD | p100 | mlrsir | 0.736 0.752 0.802
Table 2 | DLRSD | p100 | dch    | 0.531 0.582 0.646
Table 2 | DLRSD | p100 | dhn    | 0.508 0.512 0.527
Table 2 | DLRSD | p100 | dtq    | 0.688 0.735 0.759
Table 2 | DLRSD | p100 | dqn    | 0.503 0.601 0.623
Table 3 | WHDLD | p10  | mlrsir | 0.901 0.924 0.941
Table 3 | WHDLD | p10  | dch    | 0.799 0.817 0.829
Table 3 | WHDLD | p10  | dhn    | 0.585 0.609 0.620
Table 3 | WHDLD | p10  | dtq    | 0.847 0.862 0.861
Table 3 | WHDLD | p10  | dqn    | 0.722 0.748 0.771
Table 3 | WHDLD | p100 | mlrsir | 0.754 0.781 0.825
Table 3 | WHDLD | p100 | dch    | 0.573 0.607 0.632
Table 3 | WHDLD | p100 | dhn    | 0.509 0.518 0.526
Table 3 | WHDLD | p100 | dtq    | 0.707 0.753 0.787
Table 3 | WHDLD | p100 | dqn    | 0.621 0.646 0.664
"""

_BITS = {"Table 1": (12, 24, 32, 48), "Table 2": (12, 36, 48), "Table 3": (12, 36, 48)}
# metric of the paper -> (title, our row keys it is compared with)
_METRICS = {
    "map": ("mAP", ("map", "map_stable")),
    "p10": ("precision of the top 10", ("precision_at_10", "precision_at_10_tie_aware")),
    "p100": ("precision of the top 100", ("precision_at_100", "precision_at_100_tie_aware")),
}


def _parse_published(text: str) -> tuple[PaperTable, ...]:
    """The blocks of :data:`_PUBLISHED`, in the order of their first line."""
    blocks: dict[tuple[str, str, str], dict[str, dict[int, float | None]]] = {}
    for line in text.strip().splitlines():
        name, dataset, metric, method, numbers = (part.strip() for part in line.split("|"))
        bits = _BITS[name]
        values = [float(v) for v in numbers.split()]
        assert len(values) == len(bits), line
        blocks.setdefault((name, dataset, metric), {})[method] = dict(zip(bits, values))
    return tuple(
        PaperTable(
            name=name,
            title=f"{_METRICS[metric][0]} on {dataset}",
            dataset=dataset,
            bits=_BITS[name],
            metrics=_METRICS[metric][1],
            values=rows,
            sources={m: SOURCE_TABLES for m in rows},
        )
        for (name, dataset, metric), rows in blocks.items()
    )


PAPER_TABLES = _parse_published(_PUBLISHED)
TABLE1_MAP, TABLE1_MAP_WHDLD, TABLE2_P10, TABLE2_P100, TABLE3_P10, TABLE3_P100 = PAPER_TABLES


def paper_tables_for(metric: str) -> list[PaperTable]:
    """Every paper block compared with our metric key ``metric`` (DLRSD first, then WHDLD)."""
    return [t for t in PAPER_TABLES if metric in t.metrics]


def paper_table_for(metric: str) -> PaperTable | None:
    """The first (DLRSD) paper block compared with ``metric``, if any."""
    found = paper_tables_for(metric)
    return found[0] if found else None


def as_tables(paper: PaperTable | Sequence[PaperTable] | None) -> list[PaperTable]:
    """``None`` / one table / several -> a list."""
    if paper is None:
        return []
    if isinstance(paper, PaperTable):
        return [paper]
    return list(paper)
