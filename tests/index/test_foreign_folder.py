"""Issue 24 item 16: ``index build --index DIR`` on a folder that is not an index refuses it
and removes nothing (before: it wrote there and deleted files named like its own)."""

from __future__ import annotations

import pytest

from mlrsir.cli.main import main
from mlrsir.errors import IndexStoreError
from mlrsir.index.store import CodeIndex
from tests.cli.test_end_to_end import _train_args
from tests.fixtures.make_datasets import make_ucm_fixture

USER_FILES = {"codes.7.bin": b"seven", "ids.2.bin": b"two", "ivf.3.json": b"{}", ".codes.x.bin.1.tmp": b"tmp"}


def _fill_with_user_files(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in USER_FILES.items():
        (folder / name).write_bytes(data)


def _assert_untouched(folder):
    assert sorted(p.name for p in folder.iterdir()) == sorted(USER_FILES)
    for name, data in USER_FILES.items():
        assert (folder / name).read_bytes() == data


@pytest.mark.parametrize("overwrite", [False, True])
def test_create_refuses_a_non_empty_folder_without_an_index(tmp_path, overwrite):
    folder = tmp_path / "mine"
    _fill_with_user_files(folder)
    with pytest.raises(IndexStoreError, match="not empty and holds no index"):
        CodeIndex.create(folder, bits=16, fingerprint={}, run_dir=None, classes=None, overwrite=overwrite)
    _assert_untouched(folder)


def test_create_accepts_a_new_or_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "new" / "nested"):
        with CodeIndex.create(folder, bits=16, fingerprint={}, run_dir=None, classes=None) as index:
            assert len(index) == 0


def test_index_build_cli_refuses_and_keeps_the_users_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "cache"))
    ucm = make_ucm_fixture(tmp_path / "ucm", scenes=2, per_scene=4, size=48)
    run = tmp_path / "run"
    assert main(_train_args(ucm, run)) == 0
    folder = tmp_path / "mine"
    _fill_with_user_files(folder)
    capsys.readouterr()
    args = ["index", "build", "--run", str(run), "--images", str(ucm / "Images"), "--index", str(folder), "--quiet"]
    assert main(args) == 2
    assert main([*args, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert str(folder) in err and "holds no index" in err
    _assert_untouched(folder)
