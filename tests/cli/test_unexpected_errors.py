"""An unexpected exception in a command is one line with a hint, exit 2; ``mlrsir --debug``
shows the traceback; Ctrl-C is exit 130 in one line; MlrsirError as before (issue 24 item 17)."""

from __future__ import annotations

import pytest

import mlrsir.cli.index_cmd as index_cmd
import mlrsir.cli.search as search_cmd
from mlrsir.cli.main import main
from mlrsir.errors import DataError

SEARCH = ["search", "--index", "IX", "--query", "q.png"]


def raising(exc):
    def func(args):
        raise exc

    return func


def test_unexpected_exception_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(search_cmd, "run", raising(TypeError("the JSON object must be str,\nnot bytes")))
    assert main(SEARCH) == 2
    captured = capsys.readouterr()
    assert captured.err == (
        "mlrsir: error: unexpected TypeError: the JSON object must be str, not bytes "
        "(rerun with --debug for the traceback)\n"
    )
    assert captured.out == ""


def test_exception_without_message(monkeypatch, capsys):
    monkeypatch.setattr(index_cmd, "run_info", raising(RuntimeError()))
    assert main(["index", "info", "--index", "IX"]) == 2
    assert capsys.readouterr().err == "mlrsir: error: unexpected RuntimeError (rerun with --debug for the traceback)\n"


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(search_cmd, "run", raising(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")))
    assert main(["--debug", *SEARCH]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):\n")
    assert "in func\n    raise exc" in err  # the frame that raised
    assert err.splitlines()[-1].startswith("mlrsir: error: unexpected UnicodeDecodeError: 'utf-8' codec can't decode")
    assert "rerun with --debug" not in err


def test_keyboard_interrupt_is_130_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(search_cmd, "run", raising(KeyboardInterrupt()))
    assert main(SEARCH) == 130
    assert capsys.readouterr().err == "mlrsir: interrupted\n"
    assert main(["--debug", *SEARCH]) == 130
    assert capsys.readouterr().err == "mlrsir: interrupted\n"


def test_mlrsir_errors_unchanged(monkeypatch, capsys):
    monkeypatch.setattr(search_cmd, "run", raising(DataError("q.png: not an image")))
    assert main(SEARCH) == 2
    assert capsys.readouterr().err == "mlrsir: error: q.png: not an image\n"
    assert main(["--debug", *SEARCH]) == 2
    assert capsys.readouterr().err == "mlrsir: error: q.png: not an image\n"


def test_debug_is_a_global_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--debug" in capsys.readouterr().out
