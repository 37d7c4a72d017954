"""The speed benchmarks are one ``mlrsir bench`` group; ``mlrsir benchmark`` is the report grid."""

from __future__ import annotations

import pytest

from mlrsir.cli.main import build_parser, main


def _subcommands(parser, *path):
    action = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    if not path:
        return action.choices
    return _subcommands(action.choices[path[0]], *path[1:])


def test_bench_group_has_search_and_load():
    commands = _subcommands(build_parser())
    assert "bench" in commands and "benchmark" in commands and "bench-load" not in commands
    assert {"search", "load"} <= set(_subcommands(build_parser(), "bench"))


def test_bench_search_smoke(capsys):
    assert (
        main(
            [
                "bench",
                "search",
                "--n",
                "2000",
                "--queries",
                "10",
                "--k",
                "5",
                "--bits",
                "12",
                "--numpy-budget",
                "0.05",
                "--float-budget",
                "0.05",
                "--float-dim",
                "16",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mlrsir bench search: n=2000, queries=10" in out and "| 12 | faiss |" in out


def test_bench_load_parses_and_validates(capsys):
    assert main(["bench", "load", "--clients", "2"]) == 2  # neither --index nor --url
    assert "exactly one of --index" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench-load", "--help"])


def test_scene_and_ray_benchmarks_are_bench_subcommands():
    """Issue 23: the scene RSS and Ray benchmarks moved from geo/ and distributed/ into `mlrsir bench`."""
    assert {"scene-rss", "ray", "encode"} <= set(_subcommands(build_parser(), "bench"))
    args = build_parser().parse_args(["bench", "ray", "--run", "R", "--images", "I", "--workers", "2", "3"])
    assert args.engine == ["ray"] and args.runtime is None and args.workers == [2, 3]
    args = build_parser().parse_args(["bench", "scene-rss", "S", "--tile", "128", "--cache-mb", "8"])
    assert (args.scene, args.bands, args.tile, args.cache_mb, args.child) == ("S", "all", 128, 8, False)
