"""Splits: disjoint cover, determinism, per-scene 70/30, stratification balance, JSON."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from mlrsir.data.splits import load_or_create_split, load_split, make_split, save_split
from mlrsir.data.stratify import iterative_stratification
from mlrsir.errors import ConfigError, DataError


def _scene_dataset(scenes=21, per_scene=100):
    names = [f"Images/s{s:02d}/s{s:02d}_{k:02d}.jpg" for s in range(scenes) for k in range(per_scene)]
    rng = np.random.default_rng(1)
    return SimpleNamespace(
        name="fake",
        scenes=[f"s{s:02d}" for s in range(scenes) for _ in range(per_scene)],
        labels=rng.integers(0, 2, (scenes * per_scene, 5)).astype(np.uint8),
        relative_paths=names,
        root="/fake",
    )


def _multilabel_dataset(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    probs = np.array([0.5, 0.2, 0.05, 0.02, 0.3, 0.01])
    labels = (rng.random((n, len(probs))) < probs).astype(np.uint8)
    return SimpleNamespace(
        name="multi",
        scenes=None,
        labels=labels,
        relative_paths=[f"Images/wh{i:04d}.jpg" for i in range(n)],
        root="/fake",
    )


def _assert_partition(split, n):
    parts = [set(split.train.tolist()), set(split.val.tolist()), set(split.test.tolist())]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert parts[0] | parts[1] | parts[2] == set(range(n))
    assert sorted(split.trainval.tolist()) == sorted(parts[0] | parts[1])


def test_scene_split_counts_and_partition():
    ds = _scene_dataset()
    split = make_split(ds, seed=0)
    assert split.method == "scene"
    _assert_partition(split, 2100)
    scenes = np.array(ds.scenes)
    for scene in sorted(set(ds.scenes)):
        assert (scenes[split.test] == scene).sum() == 30
        assert (scenes[split.val] == scene).sum() == 7
        assert (scenes[split.train] == scene).sum() == 63
    assert len(split.trainval) == 1470


def test_determinism_and_seed_dependence():
    ds = _scene_dataset(3, 20)
    a, b, c = make_split(ds, seed=5), make_split(ds, seed=5), make_split(ds, seed=6)
    assert np.array_equal(a.test, b.test) and np.array_equal(a.val, b.val)
    assert not np.array_equal(a.test, c.test)
    m = _multilabel_dataset(300)
    assert np.array_equal(make_split(m, seed=1).test, make_split(m, seed=1).test)


def test_iterative_split_balance():
    ds = _multilabel_dataset(2000)
    split = make_split(ds, seed=0)
    assert split.method == "iterative"
    _assert_partition(split, 2000)
    assert abs(len(split.test) - 600) <= 10
    assert abs(len(split.val) - 140) <= 10
    total = ds.labels.sum(axis=0)
    in_test = ds.labels[split.test].sum(axis=0)
    # each label's share in test within 2 percentage points or 2 examples of 30 %
    for j in range(ds.labels.shape[1]):
        assert abs(in_test[j] - 0.3 * total[j]) <= max(2, 0.02 * total[j]), (j, in_test[j], total[j])


def test_iterative_stratification_rare_label_spread():
    """Sechidis' rarest-first rule: 10 examples of a rare label split 3/7 exactly."""
    labels = np.zeros((100, 2), dtype=np.uint8)
    labels[:10, 0] = 1
    labels[:, 1] = 1
    assignment = iterative_stratification(labels, [0.3, 0.7], np.random.default_rng(0))
    assert (assignment[:10] == 0).sum() == 3
    assert (assignment == 0).sum() == 30


def test_save_load_roundtrip_and_checks(tmp_path):
    ds = _scene_dataset(2, 10)
    split = make_split(ds, seed=2)
    path = save_split(split, tmp_path / "split.json")
    payload = json.loads(path.read_text())
    assert payload["names"][0] == "Images/s00/s00_00.jpg" and payload["seed"] == 2
    loaded = load_split(path, ds)
    for key in ("train", "val", "test"):
        assert np.array_equal(getattr(loaded, key), getattr(split, key))
    other = _scene_dataset(2, 10)
    other.relative_paths = list(other.relative_paths)
    other.relative_paths[4] = "Images/s00/renamed.jpg"
    with pytest.raises(DataError, match=r"split\.json: image list differs .* index 4"):
        load_split(path, other)
    with pytest.raises(DataError, match="has 20 images but dataset"):
        load_split(path, _scene_dataset(2, 11))
    payload["test"] = payload["test"][:-1]
    (tmp_path / "broken.json").write_text(json.dumps(payload))
    with pytest.raises(DataError, match="disjoint and cover"):
        load_split(tmp_path / "broken.json")


def test_load_or_create(tmp_path):
    ds = _scene_dataset(2, 10)
    path = tmp_path / "run" / "split.json"
    first = load_or_create_split(path, ds, seed=4)
    assert path.is_file()
    again = load_or_create_split(path, ds, seed=4)
    assert np.array_equal(first.test, again.test)
    with pytest.raises(ConfigError, match="existing split"):
        load_or_create_split(path, ds, seed=5)


def test_bad_fractions():
    with pytest.raises(ConfigError):
        make_split(_scene_dataset(1, 10), test_fraction=1.0)
