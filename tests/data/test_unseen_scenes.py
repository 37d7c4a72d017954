"""The unseen-scenes protocol: 15 scene classes to train on, 6 to query and search."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.data.splits import load_or_create_split, load_split, make_split, protocol_indices, save_split
from mlrsir.errors import ConfigError


class Scenes:
    """A dataset stand-in: 21 scenes x 10 images (what the split needs)."""

    name = "ucm"

    def __init__(self, scenes=21, per_scene=10):
        self.scenes = [f"scene{s:02d}" for s in range(scenes) for _ in range(per_scene)]
        self.relative_paths = [f"Images/{sc}/{sc}{i:02d}.tif" for i, sc in enumerate(self.scenes)]
        self.labels = np.zeros((len(self.scenes), 17), dtype=np.uint8)


def test_disjoint_scenes_and_parts():
    ds = Scenes()
    split = make_split(ds, seed=3, protocol="unseen-scenes")
    assert len(split.seen_scenes) == 15 and len(split.unseen_scenes) == 6
    assert not set(split.seen_scenes) & set(split.unseen_scenes)
    scenes = np.asarray(ds.scenes)
    train, query, db = protocol_indices(split, "test")
    assert set(scenes[train]) == set(split.seen_scenes)
    assert set(scenes[query]) == set(scenes[db]) == set(split.unseen_scenes)
    parts = [split.train, split.val, split.test, split.database]
    assert sum(len(p) for p in parts) == len(ds.scenes) == len(set(np.concatenate(parts).tolist()))
    assert len(query) == 6 * 3 and len(db) == 6 * 7  # 30 % of each unseen scene queries
    # model selection stays inside the seen scenes
    train_v, query_v, db_v = protocol_indices(split, "val")
    assert set(scenes[np.concatenate([train_v, query_v, db_v])]) <= set(split.seen_scenes)


def test_scene_division_saved_and_reloaded(tmp_path):
    ds = Scenes()
    split = make_split(ds, seed=1, protocol="unseen-scenes")
    path = save_split(split, tmp_path / "split.json")
    payload = json.loads(path.read_text())
    assert payload["protocol"] == "unseen-scenes" and payload["unseen_scenes"] == split.unseen_scenes
    back = load_split(path, ds)
    assert back.unseen_scenes == split.unseen_scenes and back.seen_scenes == split.seen_scenes
    assert np.array_equal(back.database, split.database) and np.array_equal(back.test, split.test)
    assert load_or_create_split(path, ds, seed=1, protocol="unseen-scenes").unseen_scenes == split.unseen_scenes
    with pytest.raises(ConfigError, match="protocol"):
        load_or_create_split(path, ds, seed=1, protocol="paper")
    paper = make_split(ds, seed=1)
    assert paper.protocol == "paper" and paper.database is None
    assert "protocol" not in json.loads(save_split(paper, tmp_path / "p.json").read_text())


def test_three_seeds_give_three_divisions():
    ds = Scenes()
    divisions = {tuple(make_split(ds, seed=s, protocol="unseen-scenes").unseen_scenes) for s in range(3)}
    assert len(divisions) == 3
    # the paper protocol's split also varies with the seed
    assert not np.array_equal(make_split(ds, seed=0).test, make_split(ds, seed=1).test)


def test_unseen_scenes_needs_scenes():
    ds = Scenes()
    ds.scenes = None
    with pytest.raises(ConfigError, match="scene classes"):
        make_split(ds, seed=0, protocol="unseen-scenes")
