"""Relevance feedback (Rocchio): the formula, a search through an index, and (real data) the gain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlrsir.index.store import CodeIndex
from mlrsir.inference.feedback import rocchio, search_with_feedback, simulate


def test_rocchio_formula_and_scaling():
    q = np.array([0.5, -0.2, 0.1])
    rel = np.array([[1, 1, 0], [1, 0, 0]], np.uint8)
    non = np.array([[0, 0, 1]], np.uint8)
    want = 1.0 * q + 0.75 * np.array([1, 0, -1]) - 0.25 * np.array([-1, -1, 1])
    np.testing.assert_allclose(rocchio(q, rel, non), want / np.abs(want).max())
    np.testing.assert_allclose(rocchio(q), q / 0.5)  # no marks: same direction


def test_feedback_moves_the_query(tmp_path):
    bits = 8
    index = CodeIndex.create(tmp_path / "ix", bits=bits, fingerprint={}, run_dir=None, classes=None)
    codes = np.array(
        [[0] * 8, [1, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0], [1] * 8], np.uint8
    )
    ids = index.add([{"path": f"p{i}", "width": 1, "height": 1, "labels": None} for i in range(5)], codes)
    rows = search_with_feedback(index, k=5, query_code=codes[0])
    assert [r["id"] for r in rows][:2] == [ids[0], ids[1]]
    rows = search_with_feedback(
        index, k=5, query_code=codes[0], relevant=[ids[3]], nonrelevant=[ids[0], ids[1]], weights=(1, 2, 1)
    )
    assert rows[0]["id"] in (ids[2], ids[3])  # moved towards the relevant item
    index.close()


UCM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ucm-multilabel"


def _encoded_run():
    """The encoded UCM run named by ``$MLRSIR_UCM_RUN`` (``mlrsir train`` + ``mlrsir encode``), or None.

    Training one takes minutes, so the suite does not; the committed reports were measured on one.
    """
    import os

    run = Path(os.environ["MLRSIR_UCM_RUN"]) if os.environ.get("MLRSIR_UCM_RUN") else None
    return run if run is not None and (run / "codes.npz").exists() else None


@pytest.mark.realdata
def test_simulated_feedback_on_ucm_helps():
    if not UCM.exists():
        pytest.skip(f"{UCM} not present")
    run = _encoded_run()
    if run is None:
        pytest.skip("no encoded UCM run: set MLRSIR_UCM_RUN (mlrsir train + mlrsir encode)")
    result = simulate(run, rounds=2, mark=10, max_queries=200, relevance="jaccard")
    r0, r1, r2 = result["rounds"]
    assert r1["map_at_100"] > r0["map_at_100"] and r2["map_at_100"] >= r1["map_at_100"] - 1e-3
    assert r1["precision_at_10"] > r0["precision_at_10"]
    assert simulate(run, rounds=1, mark=10, max_queries=50)["rounds"][1]["precision_at_10"] >= 0.9
