"""``mlrsir evaluate-codes`` in-process: JSON/table output, protocols, and bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.metrics.evaluate import evaluate_codes

N, BITS, C = 60, 12, 5


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2, size=(N, BITS), dtype=np.uint8)
    labels = (rng.random((N, C)) < 0.3).astype(np.uint8)
    query_idx = np.arange(0, N, 3, dtype=np.int64)
    db_idx = np.setdiff1d(np.arange(N), query_idx).astype(np.int64)
    return codes, labels, query_idx, db_idx


def _write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def codes_file(tmp_path):
    codes, labels, q, db = _arrays()
    return _write(tmp_path / "codes.npz", codes=codes, labels=labels, query_idx=q, db_idx=db, bits=np.int64(BITS))


def _run_json(argv, capsys):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_output_equals_library(codes_file, capsys):
    codes, labels, q, db = _arrays()
    out = _run_json(["evaluate-codes", "--codes", codes_file, "--json"], capsys)
    expected = evaluate_codes(codes[q], codes[db], labels[q], labels[db])
    for key in ("map", "map_stable", "map_at_100", "precision_at_10", "precision_at_100", "ndcg_at_100"):
        assert out[key] == pytest.approx(expected[key]), key
    assert out["num_queries"] == len(q) and out["num_database"] == len(db) and out["bits"] == BITS


def test_table_output(codes_file, capsys):
    assert main(["evaluate-codes", "--codes", codes_file]) == 0
    text = capsys.readouterr().out
    assert "mAP@all (tie-aware)" in text and "P@10" in text and "12 bits" in text


def test_curves_in_json(codes_file, capsys):
    out = _run_json(["evaluate-codes", "--codes", codes_file, "--json", "--curves"], capsys)
    assert out["pr_by_radius"]["radius"] == list(range(BITS + 1))
    assert out["precision_at_n"]["n"][-1] == N - len(range(0, N, 3))


def test_all_but_query_protocol(codes_file, capsys):
    codes, labels, q, _ = _arrays()
    out = _run_json(["evaluate-codes", "--codes", codes_file, "--json", "--queries", "all-but-query"], capsys)
    expected = evaluate_codes(codes[q], codes, labels[q], labels, exclude_self=q)
    assert out["map"] == pytest.approx(expected["map"])
    assert out["num_database"] == N - 1


def test_split_file_and_labels_file(tmp_path, capsys):
    from mlrsir.data.splits import Split, save_split

    codes, labels, q, db = _arrays()
    path = _write(tmp_path / "c.npz", codes=codes, labels=np.zeros_like(labels))
    split = Split(train=db[::2], val=db[1::2], test=q, seed=0, method="test", dataset="synthetic")
    save_split(split, tmp_path / "split.json")
    np.save(tmp_path / "labels.npy", labels)
    out = _run_json(
        [
            "evaluate-codes",
            "--codes",
            path,
            "--split",
            str(tmp_path / "split.json"),
            "--labels",
            str(tmp_path / "labels.npy"),
            "--json",
        ],
        capsys,
    )
    expected = evaluate_codes(codes[q], codes[db], labels[q], labels[db])
    assert out["map"] == pytest.approx(expected["map"])


def _error(argv, capsys):
    assert main(argv) == 2
    return capsys.readouterr().err


def test_bad_files_name_the_file_and_problem(tmp_path, capsys):
    codes, labels, q, db = _arrays()
    cases = {
        "missing.npz": (None, "not found"),
        "garbage.npz": (b"not a zip", "not a readable .npz"),
        "nocodes.npz": (dict(labels=labels, query_idx=q, db_idx=db), "missing key 'codes'"),
        "aqd.npz": (dict(assignments=np.zeros((N, 2), int), labels=labels), "assignments"),
        "twos.npz": (dict(codes=codes * 2, labels=labels, query_idx=q, db_idx=db), "only 0 and 1"),
        "shape.npz": (dict(codes=codes, labels=labels[:-1], query_idx=q, db_idx=db), "do not match"),
        "bits.npz": (dict(codes=codes, labels=labels, query_idx=q, db_idx=db, bits=np.int64(8)), "'bits' = 8"),
        "noidx.npz": (dict(codes=codes, labels=labels), "--split"),
        "range.npz": (dict(codes=codes, labels=labels, query_idx=q, db_idx=db + 5), "'db_idx'"),
        "nolabels.npz": (dict(codes=codes, query_idx=q, db_idx=db), "'labels'"),
    }
    for name, (content, problem) in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            np.savez(path, **content)
        err = _error(["evaluate-codes", "--codes", str(path)], capsys)
        assert name in err and problem in err, (name, err)
        assert err.startswith("mlrsir: error:")
