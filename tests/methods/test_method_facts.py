"""Every registered method class carries its facts (title, kind, retrieval, needs_refit)."""

from __future__ import annotations

import pytest

from mlrsir.methods.base import HASHING, METHOD_KINDS, QUANTIZATION
from mlrsir.methods.registry import METHODS, find_method_class, get_method
from mlrsir.report.tables import is_hashing_method, method_title


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_class_states_its_facts(name):
    cls = METHODS[name]
    assert cls.name == name and cls.title and cls.kind in METHOD_KINDS
    # the kind agrees with the ranking distance and with the refit rule
    assert (cls.kind == HASHING) == (cls.retrieval == "hamming")
    assert cls.needs_refit == (cls.kind == QUANTIZATION)
    assert get_method(name, 32).kind == cls.kind


def test_paper_methods_have_the_paper_names_and_kinds():
    assert [METHODS[m].title for m in ("mlrsir", "dch", "dhn", "dtq", "dqn")] == [
        "MLRSIR-NET",
        "DCH",
        "DHN",
        "DTQ",
        "DQN",
    ]
    assert {m for m in ("mlrsir", "dch", "dhn", "dtq", "dqn") if METHODS[m].kind == HASHING} == {"mlrsir", "dch", "dhn"}


def test_report_reads_the_facts_of_the_class():
    assert find_method_class("DCH") is METHODS["dch"] and find_method_class("nosuch") is None
    assert method_title("dtq:top1") == "DTQ (top stage fine-tuned)"
    assert method_title("Nosuch:none") == "Nosuch (frozen backbone)"
    assert is_hashing_method("dhn:none") and is_hashing_method("MLRSIR")
    assert not is_hashing_method("dqn") and not is_hashing_method("nosuch")
