"""mlrsir search --positives/--negatives: find all like these over a whole index (end to end)."""

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from mlrsir.inference.like_these import search_like_these

FP = {"bits": 16, "backbone": "efficientnet_lite0", "method": "mlrsir", "image_size": 256, "weights_sha256": "ab12"}


@pytest.fixture()
def index_dir(tmp_path):
    """60 items: ids 1-20 near code 0...0 (label 'ship'), the rest near 1...1 (label 'field')."""
    rng = np.random.default_rng(0)
    codes = np.ones((60, 16), np.uint8)
    codes[:20] = 0
    codes ^= (rng.random((60, 16)) < 0.05).astype(np.uint8)
    records = [
        {"path": f"/data/img{i:02d}.jpg", "width": 8, "height": 8, "labels": ["ship"] if i < 20 else ["field"]}
        for i in range(60)
    ]
    ix = tmp_path / "ix"
    with CodeIndex.create(ix, bits=16, fingerprint=FP, run_dir=None, classes=["field", "ship"]) as index:
        index.add(records, codes)
    return ix


def test_the_marked_class_comes_first_and_marked_items_are_left_out(index_dir):
    with CodeIndex.open(index_dir, readonly=True) as index:
        ids = index.ids()
        rows = search_like_these(index, ids[:3].tolist(), ids[30:33].tolist(), k=17, chunk=7)
    assert [r["rank"] for r in rows] == list(range(1, 18))
    assert {r["id"] for r in rows} == set(ids[3:20].tolist())
    assert all(r["labels"] == ["ship"] for r in rows)
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)


def test_chunked_ranking_equals_one_chunk(index_dir):
    with CodeIndex.open(index_dir, readonly=True) as index:
        ids = index.ids().tolist()
        one = search_like_these(index, ids[:2], [], k=60, chunk=1 << 20)
        many = search_like_these(index, ids[:2], [], k=60, chunk=5)
    assert [(r["id"], r["score"]) for r in one] == [(r["id"], r["score"]) for r in many]


def test_cli_json_label_filter_and_unknown_id(index_dir, capsys):
    with CodeIndex.open(index_dir, readonly=True) as index:
        ids = index.ids().tolist()
    args = ["search", "--index", str(index_dir), "--positives", f"{ids[0]},{ids[1]}", "--negatives", str(ids[40])]
    assert main([*args, "--k", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and all(r["labels"] == ["ship"] for r in rows)
    assert main([*args, "--k", "5", "--label", "field", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["labels"] == ["field"] for r in rows)
    assert main(["search", "--index", str(index_dir), "--positives", "999999"]) == 2
    assert "999999" in capsys.readouterr().err
    assert main(["search", "--index", str(index_dir), "--positives", "x,y"]) == 2
    assert "--positives" in capsys.readouterr().err
