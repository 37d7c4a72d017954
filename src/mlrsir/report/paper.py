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


def _row(bits: tuple[int, ...], values: tuple[float | None, ...] | None = None) -> dict[int, float | None]:
    values = values if values is not None else (None,) * len(bits)
    assert len(values) == len(bits)
    return dict(zip(bits, values))


_T1_BITS = (12, 24, 32, 48)
_T23_BITS = (12, 36, 48)
_ALL = {m: SOURCE_TABLES for m in PAPER_METHODS}


def _table(name, title, dataset, bits, metrics, rows) -> PaperTable:
    return PaperTable(
        name=name,
        title=title,
        dataset=dataset,
        bits=bits,
        metrics=metrics,
        values={m: _row(bits, v) for m, v in rows.items()},
        sources=dict(_ALL),
    )


_MAP = ("map", "map_stable")
_P10 = ("precision_at_10", "precision_at_10_tie_aware")
_P100 = ("precision_at_100", "precision_at_100_tie_aware")

# Table 1 of the paper: mAP.
TABLE1_MAP = _table(
    "Table 1",
    "mAP on DLRSD",
    "DLRSD",
    _T1_BITS,
    _MAP,
    {
        "mlrsir": (0.854, 0.872, 0.908, 0.929),
        "dch": (0.761, 0.803, 0.848, 0.873),
        "dhn": (0.577, 0.604, 0.638, 0.694),
        "dtq": (0.834, 0.857, 0.878, 0.898),
        "dqn": (0.696, 0.705, 0.744, 0.766),
    },
)
TABLE1_MAP_WHDLD = _table(
    "Table 1",
    "mAP on WHDLD",
    "WHDLD",
    _T1_BITS,
    _MAP,
    {
        "mlrsir": (0.938, 0.987, 0.919, 0.946),
        "dch": (0.779, 0.832, 0.861, 0.890),
        "dhn": (0.581, 0.628, 0.671, 0.698),
        "dtq": (0.814, 0.869, 0.884, 0.902),
        "dqn": (0.722, 0.732, 0.756, 0.826),
    },
)
# Table 2 of the paper: DLRSD, precision of the top 10 / top 100.
TABLE2_P10 = _table(
    "Table 2",
    "precision of the top 10 on DLRSD",
    "DLRSD",
    _T23_BITS,
    _P10,
    {
        "mlrsir": (0.884, 0.914, 0.935),
        "dch": (0.761, 0.721, 0.771),
        "dhn": (0.577, 0.599, 0.625),
        "dtq": (0.804, 0.844, 0.868),
        "dqn": (0.696, 0.732, 0.759),
    },
)
TABLE2_P100 = _table(
    "Table 2",
    "precision of the top 100 on DLRSD",
    "DLRSD",
    _T23_BITS,
    _P100,
    {
        "mlrsir": (0.736, 0.752, 0.802),
        "dch": (0.531, 0.582, 0.646),
        "dhn": (0.508, 0.512, 0.527),
        "dtq": (0.688, 0.735, 0.759),
        "dqn": (0.503, 0.601, 0.623),
    },
)
# Table 3 of the paper: WHDLD, precision of the top 10 / top 100.
TABLE3_P10 = _table(
    "Table 3",
    "precision of the top 10 on WHDLD",
    "WHDLD",
    _T23_BITS,
    _P10,
    {
        "mlrsir": (0.901, 0.924, 0.941),
        "dch": (0.799, 0.817, 0.829),
        "dhn": (0.585, 0.609, 0.620),
        "dtq": (0.847, 0.862, 0.861),
        "dqn": (0.722, 0.748, 0.771),
    },
)
TABLE3_P100 = _table(
    "Table 3",
    "precision of the top 100 on WHDLD",
    "WHDLD",
    _T23_BITS,
    _P100,
    {
        "mlrsir": (0.754, 0.781, 0.825),
        "dch": (0.573, 0.607, 0.632),
        "dhn": (0.509, 0.518, 0.526),
        "dtq": (0.707, 0.753, 0.787),
        "dqn": (0.621, 0.646, 0.664),
    },
)

PAPER_TABLES = (TABLE1_MAP, TABLE1_MAP_WHDLD, TABLE2_P10, TABLE2_P100, TABLE3_P10, TABLE3_P100)


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
