"""Entry point of the ``mlrsir`` command.

Each subcommand lives in its own module of this package, which exposes
``register(subparsers)``; the module adds its parser(s) and sets ``func`` to a
callable ``func(args) -> int`` (the exit status). Heavy imports (torch, faiss,
fastapi) happen inside ``func`` so that ``mlrsir --help`` stays fast.

Errors: an :class:`~mlrsir.errors.MlrsirError` is printed ``mlrsir: error: ...`` (exit 2);
any other exception is one line ``mlrsir: error: unexpected TYPE: message (rerun with
--debug for the traceback)`` (exit 2), and ``mlrsir --debug COMMAND ...`` prints its
traceback; Ctrl-C is ``mlrsir: interrupted`` (exit 130).

Tests call :func:`main` in-process with an argv list.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from mlrsir import __version__
from mlrsir.errors import MlrsirError
from mlrsir.text import printable

# subcommand modules, in the order they appear in --help
SUBCOMMAND_MODULES = [
    "data_cmd",  # mlrsir data check
    "evaluate_codes",  # mlrsir evaluate-codes
    "floors",  # mlrsir floors (random-code / random-ranking baselines)
    "train",  # mlrsir train
    "encode",  # mlrsir encode
    "export",  # mlrsir export (ONNX)
    "evaluate",  # mlrsir evaluate
    "benchmark",  # mlrsir benchmark
    "tune",  # mlrsir tune (validation split)
    "index_cmd",  # mlrsir index build|add|remove|info
    "search",  # mlrsir search
    "serve",  # mlrsir serve
    "bench",  # mlrsir bench search|load (speed benchmarks)
    "labels_cmd",  # mlrsir labels evaluate|predict
    "feedback_cmd",  # mlrsir feedback simulate
]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes no abbreviated option (``--run`` is never read as
    ``--runtime``); sub-commands' parsers are of this class too (``add_subparsers`` makes
    parsers of its parent's class)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlrsir",
        description="Multi-label remote-sensing image retrieval by deep hashing (MLRSIR-NET).",
    )
    parser.add_argument("--version", action="version", version=f"mlrsir {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an unexpected error (give it before the command: mlrsir --debug search ...)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"mlrsir.cli.{name}").register(sub)
    return parser


#: Options whose value is a list of numbers that may start with a minus sign.
COORDINATE_OPTIONS = ("--at", "--bbox")
_NEGATIVE_NUMBERS = re.compile(r"^-\.?\d[\d.eE,+\- ]*$")


def join_coordinate_values(argv: list[str]) -> list[str]:
    """``--at -75.6,37.6`` as ``--at=-75.6,37.6``: argparse takes a value that starts with a
    minus and holds a comma for an option, so a western longitude would need ``--at=``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in COORDINATE_OPTIONS and i + 1 < len(argv) and _NEGATIVE_NUMBERS.match(argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_coordinate_values(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _closed_pipe()
    except MlrsirError as exc:
        print(f"mlrsir: error: {printable(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlrsir: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line, the traceback on request
        return _unexpected(exc, debug=bool(getattr(args, "debug", False)))


def unexpected_message(exc: BaseException, hint: bool = True) -> str:
    """``mlrsir: error: unexpected TYPE: message (rerun with --debug for the traceback)``, on
    one line (``hint=False``: without the parenthesis)."""
    text = printable(" ".join(str(exc).split()))
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"mlrsir: error: unexpected {what}" + (" (rerun with --debug for the traceback)" if hint else "")


def _unexpected(exc: Exception, debug: bool) -> int:
    """Report an exception that is not an :class:`MlrsirError`: the traceback first with
    ``--debug``, then the one line of :func:`unexpected_message`; exit status 2."""
    if debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        print(unexpected_message(exc, hint=False), file=sys.stderr)
    else:
        print(unexpected_message(exc), file=sys.stderr)
    return 2


def _closed_pipe() -> int:
    """The reader of our output went away (``mlrsir index info | head -3``): stop quietly.

    Standard output is pointed at ``/dev/null`` so that the interpreter's final flush of
    the buffered output does not raise a second BrokenPipeError at exit.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return 141  # 128 + SIGPIPE, what a shell reports for a process killed by a closed pipe


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
