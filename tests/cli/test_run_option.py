"""Issue 24 item 19: ``index add`` takes ``--run`` (a moved run gives a hint), and no parser
accepts abbreviated options (``--run`` was read as ``--runtime``)."""

from __future__ import annotations

import argparse
import shutil

import pytest

from mlrsir.cli.main import build_parser, main
from mlrsir.index.store import CodeIndex
from tests.cli.test_end_to_end import _train_args
from tests.fixtures.make_datasets import make_ucm_fixture


def _parsers(parser):
    yield parser
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_no_parser_accepts_abbreviations():
    parsers = list(_parsers(build_parser()))
    assert len(parsers) > 20
    assert all(parser.allow_abbrev is False for parser in parsers), [p.prog for p in parsers if p.allow_abbrev]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--index", "x", "--query", "q.png", "--runt", "torch"])


def test_index_add_with_a_moved_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    ucm = make_ucm_fixture(tmp_path / "ucm", scenes=2, per_scene=4, size=48)
    run = tmp_path / "run"
    assert main(_train_args(ucm, run)) == 0
    index = tmp_path / "ix"
    images = sorted((ucm / "Images").rglob("*.jpg"))
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(images[0], first / images[0].name)
    assert main(["index", "build", "--run", str(run), "--images", str(first), "--index", str(index), "--quiet"]) == 0
    moved = tmp_path / "run-moved"
    run.rename(moved)
    capsys.readouterr()
    add = ["index", "add", "--index", str(index), "--images", str(ucm / "Images"), "--quiet"]
    assert main(add) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "moved" in err and "--run" in err
    assert main([*add, "--run", str(tmp_path / "nowhere")]) == 2
    assert "run directory not found (--run)" in capsys.readouterr().err
    assert main([*add, "--run", str(moved)]) == 0
    with CodeIndex.open(index, readonly=True) as opened:
        assert len(opened) == 1 + len(images)  # the copy in first/ and every image of the archive
