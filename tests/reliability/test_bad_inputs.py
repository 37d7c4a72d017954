"""Bad input end to end: a folder of broken and odd images through ``mlrsir index build``
(reported, skipped, counted; ``--strict`` fatal) and arguments that cannot work.

Per-file decoding of each case is tested in ``tests/data/test_images.py`` and label files
in ``tests/data/test_labels.py`` / ``tests/data/test_datasets.py``; here the whole job is
checked: every bad file is named with its problem, the good and odd-but-valid ones
(1x1, 10x10000, grey, palette, RGBA, CMYK, 16-bit) are indexed, and the total is printed.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import FakeEncoder, fake_encoder, make_run, write_image  # noqa: F401
from tests.fixtures.make_images import write_multiband_tiff

GOOD = [
    "one_by_one.png",
    "tall_10x10000.png",
    "grey.png",
    "palette.png",
    "rgba.png",
    "cmyk.jpg",
    "sixteen_bit.tif",
    "plain.jpg",
]
BAD = {  # file -> words its message must contain
    "zero_bytes.jpg": "empty file",
    "truncated.jpg": "truncated or corrupt",
    "truncated.tif": "",
    "text_named.jpg": "not an image",
    "bomb.png": "too large to decode safely",
    "six_bands.tif": "larger than the scene",  # a 4 x 4 raster: read as a scene, too small for a 256 px tile
}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    d = tmp_path / "images"
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    d.mkdir()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(d / "one_by_one.png")
    Image.fromarray(np.zeros((10000, 10, 3), np.uint8)).save(d / "tall_10x10000.png")
    Image.fromarray(noise[..., 0]).save(d / "grey.png")
    Image.fromarray(noise).convert("P").save(d / "palette.png")
    Image.fromarray(np.dstack([noise, noise[..., :1]])).save(d / "rgba.png")
    Image.fromarray(noise).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(noise[..., 0].astype(np.uint16) * 257).save(d / "sixteen_bit.tif")
    write_image(d / "plain.jpg", [(10, 200, 10)] * 4)
    (d / "zero_bytes.jpg").write_bytes(b"")
    Image.fromarray(noise).save(d / "truncated.jpg", quality=95)
    Image.fromarray(noise).save(d / "truncated.tif")
    for name in ("truncated.jpg", "truncated.tif"):
        data = (d / name).read_bytes()
        (d / name).write_bytes(data[: len(data) // 2])
    (d / "text_named.jpg").write_text("this is a text file, not a JPEG\n")
    # a "bomb" under a lowered pixel limit: 400x400 = 1.6e5 px > 1.5e5, while the
    # 10x10000 image (1e5 px) stays allowed; nothing is decoded, so no memory is spent
    Image.new("RGB", (400, 400)).save(d / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 150_000)
    write_multiband_tiff(d / "six_bands.tif", np.zeros((4, 4, 6), np.uint8))
    return d


def test_build_skips_and_counts_bad_images(tmp_path, folder, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    assert (
        main(["index", "build", "--run", str(run), "--images", str(folder), "--index", str(tmp_path / "ix"), "--quiet"])
        == 3  # some inputs indexed, some failed (mlrsir.cli.exit_status)
    )
    out = capsys.readouterr().out
    for name, words in BAD.items():
        line = next((x for x in out.splitlines() if name in x), None)
        assert line is not None, f"{name} not reported:\n{out}"
        assert line.startswith("skipped") and words in line, line
    bad_images = len(BAD) - 1  # six_bands.tif is a raster scene: counted with the scenes
    assert f"added {len(GOOD)} images" in out and f"{bad_images} failed" in out and "1 scene(s) failed" in out
    assert f"{len(BAD)} input(s) could not be indexed (the others are indexed; exit status 3)" in out
    with CodeIndex.open(tmp_path / "ix") as index:
        names = sorted(index.get(int(i))["path"].rsplit("/", 1)[1] for i in index.ids())
    assert names == sorted(GOOD)


def test_strict_build_is_fatal_and_names_the_file(tmp_path, folder, fake_encoder, capsys):
    run = make_run(tmp_path / "run")
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(run),
                "--images",
                str(folder),
                "--index",
                str(tmp_path / "ix"),
                "--quiet",
                "--strict",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("mlrsir: error: ") and any(name in err for name in BAD), err


def test_empty_image_folder(tmp_path, fake_encoder, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    run = make_run(tmp_path / "run")
    assert (
        main(
            ["index", "build", "--run", str(run), "--images", str(tmp_path / "empty"), "--index", str(tmp_path / "ix")]
        )
        == 2
    )
    assert "no .jpg/.jpeg/.png/.tif/.tiff images or raster scenes found" in capsys.readouterr().err
    assert not (tmp_path / "ix").exists()


def test_missing_run_directory(tmp_path, capsys):
    write_image(tmp_path / "images" / "a.png", [(1, 2, 3)] * 4, fmt="PNG")
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(tmp_path / "no_such_run"),
                "--images",
                str(tmp_path / "images"),
                "--index",
                str(tmp_path / "ix"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no_such_run" in err and "run directory not found" in err


def test_missing_index_and_image_folder(tmp_path, capsys):
    assert main(["index", "info", "--index", str(tmp_path / "nothing")]) == 2
    assert "no index here" in capsys.readouterr().err
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(tmp_path),
                "--images",
                str(tmp_path / "nope"),
                "--index",
                str(tmp_path / "ix"),
            ]
        )
        == 2
    )
    assert "no such image file, raster, scene folder or STAC Item" in capsys.readouterr().err


@pytest.mark.parametrize("bits", ["0", "-8", "257", "1000"])
def test_bit_lengths_the_back_end_cannot_use(tmp_path, bits, capsys):
    assert main(["train", "--root", str(tmp_path), "--bits", bits, "--out", str(tmp_path / "run")]) == 2
    assert "--bits must be between 1 and 256" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_index_refuses_zero_bits(tmp_path):
    from mlrsir.errors import ConfigError

    with pytest.raises(ConfigError, match="bits must be >= 1"):
        CodeIndex.create(tmp_path / "ix", bits=0, fingerprint={}, run_dir=None, classes=None)


def test_dataset_root_that_is_not_the_dataset(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    write_image(tmp_path / "photos" / "x.jpg", [(1, 2, 3)] * 4)
    assert main(["train", "--root", str(tmp_path), "--out", str(tmp_path / "run"), "--weights", "none", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "Images" in err
