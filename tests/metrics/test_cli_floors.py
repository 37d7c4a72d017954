"""``mlrsir floors`` on a synthetic dataset (patched loader) and on the real UCM copy."""

from __future__ import annotations

import json

import numpy as np
import pytest

import mlrsir.data.registry as registry
from mlrsir.cli.floors import compute_floors
from mlrsir.cli.main import main
from mlrsir.data.splits import make_split
from mlrsir.metrics.floors import random_codes_floor, random_ranking_floor


class _FakeDataset:
    name = "fake"

    def __init__(self, n=120, c=6, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = (rng.random((n, c)) < 0.3).astype(np.uint8)
        self.scenes = [f"s{i % 4}" for i in range(n)]

    def __len__(self):
        return len(self.labels)


@pytest.fixture
def fake_dataset(monkeypatch):
    ds = _FakeDataset()
    monkeypatch.setattr(registry, "load_dataset", lambda name, root, **kw: ds)
    return ds


def test_floors_json_matches_library(fake_dataset, capsys):
    assert (
        main(["floors", "--dataset", "fake", "--root", "/nowhere", "--bits", "8", "16", "--seeds", "2", "--json"]) == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [0, 1] and set(out["random_codes"]) == {"8", "16"}
    values = []
    for seed in (0, 1):
        split = make_split(fake_dataset, seed=seed)
        ql, dl = fake_dataset.labels[split.test], fake_dataset.labels[split.trainval]
        values.append(random_codes_floor(ql, dl, bits=8, seed=seed)["map"])
        assert out["num_queries"][seed] == len(split.test)
    assert out["random_codes"]["8"]["map"]["mean"] == pytest.approx(np.mean(values))
    assert out["random_codes"]["8"]["map"]["std"] == pytest.approx(np.std(values, ddof=1))
    split = make_split(fake_dataset, seed=1)
    rr = random_ranking_floor(fake_dataset.labels[split.test], fake_dataset.labels[split.trainval], seed=1)
    assert out["random_ranking"]["expected_map"]["values"][1] == pytest.approx(rr["expected_map"])


def test_floors_table(fake_dataset, capsys):
    assert main(["floors", "--root", "/nowhere", "--bits", "12", "--seeds", "1"]) == 0
    text = capsys.readouterr().out
    assert "random codes 12 bits" in text and "random ranking" in text


def test_floors_bad_arguments(fake_dataset, capsys):
    assert main(["floors", "--root", "/nowhere", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err


@pytest.mark.realdata
def test_floors_on_real_ucm(ucm_root, capsys):
    assert main(["floors", "--dataset", "ucm", "--root", str(ucm_root), "--bits", "12", "--seeds", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num_queries"] == [630] and out["num_database"] == [1470]
    rc, rr = out["random_codes"]["12"]["map"]["mean"], out["random_ranking"]["expected_map"]["mean"]
    assert 0.3 < rr < 0.9 and abs(rc - rr) < 0.02


def test_compute_floors_on_given_splits():
    ds = _FakeDataset(seed=3)
    splits = [make_split(ds, seed=5)]
    out = compute_floors(ds.labels, splits, [4])
    assert out["seeds"] == [5] and out["random_codes"]["4"]["map"]["n"] == 1
