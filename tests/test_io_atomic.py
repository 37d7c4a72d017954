"""mlrsir.io_atomic: the target is either the old or the complete new content, never half."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mlrsir import io_atomic


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_writes_replace_content(tmp_path):
    target = tmp_path / "sub" / "a.json"
    io_atomic.write_json_atomic(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1} and target.read_text().endswith("\n")
    io_atomic.write_text_atomic(target, "new")
    assert target.read_text() == "new"
    io_atomic.write_bytes_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    with io_atomic.open_atomic(tmp_path / "a.npy", "wb") as handle:
        np.save(handle, np.arange(3))
    assert np.load(tmp_path / "a.npy").tolist() == [0, 1, 2]
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []


@pytest.mark.parametrize("writer", ["bytes", "text", "json"])
def test_failed_replace_keeps_old_file_and_removes_temp(tmp_path, monkeypatch, writer):
    target = tmp_path / "data.txt"
    target.write_text("old content")

    def broken_replace(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk gone"):
        if writer == "bytes":
            io_atomic.write_bytes_atomic(target, b"new content")
        elif writer == "text":
            io_atomic.write_text_atomic(target, "new content")
        else:
            io_atomic.write_json_atomic(target, {"new": "content"})
    assert target.read_text() == "old content"
    assert _leftovers(tmp_path) == []


def test_exception_while_writing_keeps_old_file(tmp_path):
    target = tmp_path / "data.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with io_atomic.open_atomic(target, "wb") as handle:
            handle.write(b"half of the new")
            raise RuntimeError("crash in the middle")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_new_file_not_created_on_failure(tmp_path):
    target = tmp_path / "never.json"
    with pytest.raises(TypeError):
        io_atomic.write_json_atomic(target, {"x": object()})
    assert not target.exists() and _leftovers(tmp_path) == []
