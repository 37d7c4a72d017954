"""Chance floors: random codes and random ranking."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.metrics.evaluate import evaluate_distances
from mlrsir.metrics.floors import random_codes_floor, random_ranking_floor


def _labels(seed=0, q=150, n=400, c=8):
    rng = np.random.default_rng(seed)
    return (rng.random((q, c)) < 0.2).astype(np.uint8), (rng.random((n, c)) < 0.2).astype(np.uint8)


def test_random_ranking_floor_matches_its_closed_form():
    ql, dl = _labels()
    res = random_ranking_floor(ql, dl, seed=0)
    assert res["map"] == pytest.approx(res["map_stable"])  # a permutation has no ties
    # expected AP of a random order = tie-aware AP when every distance is equal
    all_tied = evaluate_distances(np.zeros((len(ql), len(dl)), dtype=np.int32), ql, dl)
    assert res["expected_map"] == pytest.approx(all_tied["map"], abs=1e-12)
    # the Monte-Carlo value is close to the exact expectation (150 queries)
    assert abs(res["map"] - res["expected_map"]) < 0.02
    assert res["floor"] == "random_ranking" and res["seed"] == 0


def test_random_codes_floor_is_seeded_and_near_chance():
    ql, dl = _labels(1)
    a = random_codes_floor(ql, dl, bits=16, seed=3)
    b = random_codes_floor(ql, dl, bits=16, seed=3)
    c = random_codes_floor(ql, dl, bits=16, seed=4)
    assert a == b and a["map"] != c["map"]
    assert a["bits"] == 16 and a["floor"] == "random_codes"
    expected = random_ranking_floor(ql, dl)["expected_map"]
    assert abs(a["map"] - expected) < 0.02


def test_random_codes_floor_rejects_bad_bits():
    ql, dl = _labels()
    with pytest.raises(ValueError, match="bits"):
        random_codes_floor(ql, dl, bits=0)
