"""File names with newlines and terminal escapes are printed escaped in text output
(:func:`mlrsir.text.printable`) and kept raw in JSON (issue 24 item 21): the skip lines
and summary of ``index build``, scene lines, the search table, duplicates, remove, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.text import printable
from tests.fakes.encoder import fake_encoder, make_run, write_image  # noqa: F401
from tests.geo.conftest import write_raster

EVIL = "a\nb\x1b[31mred"  # a newline and an ANSI colour sequence
EVIL_SHOWN = "a\\nb\\x1b[31mred"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (EVIL, EVIL_SHOWN),
        ("tab\there\rCR", "tab\\there\\rCR"),
        ("nul\x00del\x7fnel\x85csi\x9b", "nul\\x00del\\x7fnel\\x85csi\\x9b"),
        ("line\u2028para\u2029rtl\u202eiso\u2066", "line\\u2028para\\u2029rtl\\u202eiso\\u2066"),
        ("undecodable\udcff\udc80", "undecodable\\udcff\\udc80"),
        ("café 東京 🛰️ back\\slash ZWJ👩\u200d🚀", "café 東京 🛰️ back\\slash ZWJ👩\u200d🚀"),  # left alone
        ("", ""),
    ],
)
def test_printable(raw, shown):
    assert printable(raw) == shown
    printable(raw).encode("utf-8")  # always printable on a UTF-8 terminal (no lone surrogate left)


@pytest.fixture
def evil(tmp_path, fake_encoder):
    folder = tmp_path / "in"
    good = write_image(folder / f"{EVIL}.png", [(200, 10, 10)] * 4, fmt="PNG")
    twin = write_image(folder / f"{EVIL}twin.png", [(200, 10, 10)] * 4, fmt="PNG")  # same code: duplicates
    (folder / f"bad{EVIL}.jpg").write_text("not a JPEG\n")
    write_raster(folder / f"scene{EVIL}.tif", np.full((3, 64, 64), 900, np.uint16))
    run = make_run(tmp_path / "run")
    argv = ["index", "build", "--run", str(run), "--images", str(folder), "--index", str(tmp_path / "ix")]
    return folder.resolve(), good.resolve(), twin.resolve(), argv


def test_build_prints_names_escaped(tmp_path, evil, capsys):
    folder, _good, _twin, argv = evil
    assert main([*argv, "--quiet", "--tile", "32"]) == 3  # bad...jpg failed
    out = capsys.readouterr().out
    assert "\x1b" not in out
    bad = printable(folder / f"bad{EVIL}.jpg")
    assert any(line.startswith(f"skipped {bad}: ") for line in out.splitlines()), out
    assert f"  {bad}" in out.splitlines()  # the closing list of failed inputs
    assert any(line.startswith("scene scene" + EVIL_SHOWN) for line in out.splitlines()), out


def test_search_table_escaped_json_raw(tmp_path, evil, capsys):
    folder, good, twin, argv = evil
    main([*argv, "--quiet", "--tile", "32"])
    capsys.readouterr()
    search = ["search", "--index", str(tmp_path / "ix"), "--query", str(good), "--k", "2"]
    assert main(search) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "\x1b" not in out and len(lines) == 3  # header + 2 rows: no row split by a newline
    assert {re.split(r"\s{2,}", line.strip())[2] for line in lines[1:]} == {printable(good), printable(twin)}
    assert main([*search, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["path"] for r in rows} == {str(good), str(twin)}  # raw in JSON


def test_duplicates_remove_and_errors_escaped(tmp_path, evil, capsys):
    folder, good, twin, argv = evil
    main([*argv, "--quiet", "--tile", "32"])
    capsys.readouterr()
    assert main(["index", "duplicates", "--index", str(tmp_path / "ix")]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and printable(good) in out and printable(twin) in out
    gone = f"/nowhere/{EVIL}.png"
    assert main(["index", "remove", "--index", str(tmp_path / "ix"), "--paths", gone]) == 0
    out = capsys.readouterr().out
    assert f"not in the index: {printable(gone)}" in out.splitlines() and "\x1b" not in out
    assert main(["search", "--index", str(tmp_path / "ix"), "--query", gone]) == 2
    assert capsys.readouterr().err == f"mlrsir: error: {printable(gone)}: file not found\n"
