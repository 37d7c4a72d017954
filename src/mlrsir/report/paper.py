"""Figures reported by the MLRSIR-NET paper for DLRSD, as data, to print beside ours.

Paper: Moustafa, Ahmed, Hamed, "Learning to Hash with Convolutional Network for
Multi-label Remote Sensing Image Retrieval" (MLRSIR-NET).

* Table 1: mAP on DLRSD at 12/24/32/48 bits for MLRSIR-NET, DCH, DHN, DTQ, DQN.
* Table 2: precision of the top 10 retrieved images on DLRSD at 12/36/48 bits.
* Table 3: precision of the top 100 retrieved images on DLRSD at 12/36/48 bits.

Only values that come from a known source are filled in; every other cell of the paper's
tables is ``None`` and prints as "n/a" (never guessed). The MLRSIR-NET values of Tables 1
and 2 were supplied by the project lead (who read them in the paper). A search of the
stored public corpora (web pages, documentation, code, issues) for the paper's text or
tables found no copy, so the baseline rows (DCH, DHN, DTQ, DQN) and Table 3 stay unknown.

The paper does not say how it ranks items at equal Hamming distance, so its mAP is shown
beside both our tie-aware and our stable-sort mAP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAPER_CITATION = (
    "Moustafa, Ahmed, Hamed: Learning to Hash with Convolutional Network for "
    "Multi-label Remote Sensing Image Retrieval (MLRSIR-NET)"
)

SOURCE_LEAD = "paper value as read by the project lead (task brief); no copy of the paper was found to re-check it"

# methods of the paper's comparison, in the paper's order (our method keys)
PAPER_METHODS = ("mlrsir", "dch", "dhn", "dtq", "dqn")


@dataclass(frozen=True)
class PaperTable:
    """One table of the paper: ``values[method][bits]`` (float in [0, 1] or None = unknown).

    ``metrics`` lists our row keys this table is compared with.
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

# Table 1 of the paper: mAP on DLRSD.
TABLE1_MAP = PaperTable(
    name="Table 1",
    title="mAP on DLRSD",
    dataset="DLRSD",
    bits=_T1_BITS,
    metrics=("map", "map_stable"),
    values={
        "mlrsir": _row(_T1_BITS, (0.854, 0.872, 0.908, 0.929)),
        "dch": _row(_T1_BITS),
        "dhn": _row(_T1_BITS),
        "dtq": _row(_T1_BITS),
        "dqn": _row(_T1_BITS),
    },
    sources={"mlrsir": SOURCE_LEAD},
)

# Table 2 of the paper: precision of the top 10 retrieved images on DLRSD.
TABLE2_P10 = PaperTable(
    name="Table 2",
    title="precision of the top 10 on DLRSD",
    dataset="DLRSD",
    bits=_T23_BITS,
    metrics=("precision_at_10", "precision_at_10_tie_aware"),
    values={
        "mlrsir": _row(_T23_BITS, (0.884, 0.914, 0.935)),
        "dch": _row(_T23_BITS),
        "dhn": _row(_T23_BITS),
        "dtq": _row(_T23_BITS),
        "dqn": _row(_T23_BITS),
    },
    sources={"mlrsir": SOURCE_LEAD},
)

# Table 3 of the paper: precision of the top 100 retrieved images on DLRSD (no value known).
TABLE3_P100 = PaperTable(
    name="Table 3",
    title="precision of the top 100 on DLRSD",
    dataset="DLRSD",
    bits=_T23_BITS,
    metrics=("precision_at_100", "precision_at_100_tie_aware"),
    values={m: _row(_T23_BITS) for m in PAPER_METHODS},
)

PAPER_TABLES = (TABLE1_MAP, TABLE2_P10, TABLE3_P100)


def paper_table_for(metric: str) -> PaperTable | None:
    """The paper table compared with our metric key ``metric`` (e.g. ``"map"``), if any."""
    for table in PAPER_TABLES:
        if metric in table.metrics:
            return table
    return None
