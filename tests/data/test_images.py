"""read_rgb: every mode becomes RGB with hand-computed values; bad files are DataErrors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.images import read_rgb, read_uint8_array
from mlrsir.errors import DataError
from tests.fixtures.make_images import write_multiband_tiff


def _rgb(path):
    image = read_rgb(path)
    assert image.mode == "RGB"
    return np.asarray(image)


def test_rgb_unchanged(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(data, "RGB").save(tmp_path / "a.png")
    assert np.array_equal(_rgb(tmp_path / "a.png"), data)


def test_grayscale_L_and_1bit(tmp_path):
    grey = np.array([[0, 10, 200], [255, 7, 99]], dtype=np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    out = _rgb(tmp_path / "g.png")
    assert out.shape == (2, 3, 3)
    for c in range(3):
        assert np.array_equal(out[..., c], grey)
    bits = np.array([[True, False], [False, True]])
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    out = _rgb(tmp_path / "b.png")
    assert out[0, 0].tolist() == [255, 255, 255] and out[0, 1].tolist() == [0, 0, 0]


def test_palette(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    image.save(tmp_path / "p.png")
    assert _rgb(tmp_path / "p.png").tolist() == [[[10, 20, 30], [200, 100, 50]]]


def test_palette_with_transparency_composited_on_black(tmp_path):
    image = Image.new("P", (2, 1))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 1
    image.save(tmp_path / "pt.png", transparency=1)
    assert _rgb(tmp_path / "pt.png").tolist() == [[[10, 20, 30], [0, 0, 0]]]


def test_rgba_and_la_alpha_composited(tmp_path):
    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [200, 100, 51, 128]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    # rgb * alpha / 255 rounded: 200*128/255 = 100.39 -> 100, 100*128/255 = 50.2 -> 50, 51*128/255 = 25.6 -> 26
    assert _rgb(tmp_path / "a.png").tolist() == [[[200, 100, 50], [0, 0, 0], [100, 50, 26]]]
    la = np.array([[[80, 255], [80, 64]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    # 80 * 64 / 255 = 20.08 -> 20
    assert _rgb(tmp_path / "la.png").tolist() == [[[80, 80, 80], [20, 20, 20]]]


def test_16bit_divided_by_257(tmp_path):
    values = np.array([[0, 257, 65535, 1000]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "s.png")
    with Image.open(tmp_path / "s.png") as check:
        assert check.mode.startswith("I")
    out = _rgb(tmp_path / "s.png")
    expected = [round(v / 257) for v in (0, 257, 65535, 1000)]  # 1000/257 = 3.89 -> 4
    assert out[0, :, 0].tolist() == expected
    assert np.array_equal(out[..., 0], out[..., 2])


def test_16bit_tiff_I16(tmp_path):
    values = np.array([[514, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "s.tif")
    with Image.open(tmp_path / "s.tif") as check:
        assert check.mode == "I;16"
    assert _rgb(tmp_path / "s.tif")[0, :, 1].tolist() == [2, 255]


def test_cmyk(tmp_path):
    Image.new("CMYK", (2, 2), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    out = _rgb(tmp_path / "c.jpg")
    # pure (C=0, M=255, Y=255, K=0) is red; JPEG loses a little
    assert out[0, 0, 0] > 200 and out[0, 0, 1] < 60 and out[0, 0, 2] < 60


def test_missing_and_zero_byte(tmp_path):
    with pytest.raises(DataError, match="not found") as err:
        read_rgb(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(err.value)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.jpg: empty file"):
        read_rgb(tmp_path / "empty.jpg")


def test_text_named_jpg(tmp_path):
    (tmp_path / "t.jpg").write_text("this is not an image\n")
    with pytest.raises(DataError, match=r"t\.jpg: not an image"):
        read_rgb(tmp_path / "t.jpg")


def _truncate(path, keep_fraction=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])


def test_truncated_jpeg(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "x.jpg", quality=95)
    _truncate(tmp_path / "x.jpg")
    with pytest.raises(DataError, match=r"x\.jpg: truncated or corrupt"):
        read_rgb(tmp_path / "x.jpg")


def test_truncated_tiff(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(data).save(tmp_path / "x.tif")
    _truncate(tmp_path / "x.tif")
    with pytest.raises(DataError, match=r"x\.tif: "):
        read_rgb(tmp_path / "x.tif")


def test_decompression_bomb_refused(tmp_path, monkeypatch):
    Image.new("RGB", (40, 40)).save(tmp_path / "big.png")
    # 1600 pixels > 2 * 700: Pillow raises DecompressionBombError at open
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 700)
    with pytest.raises(DataError, match=r"big\.png: image too large"):
        read_rgb(tmp_path / "big.png")
    # 1600 pixels between limit and 2 * limit: Pillow only warns; we still refuse
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(DataError, match=r"big\.png: image too large"):
            read_rgb(tmp_path / "big.png")


def test_extreme_aspect_ratio_is_fine(tmp_path):
    data = np.zeros((10000, 10, 3), dtype=np.uint8)
    data[:5000] = 255
    Image.fromarray(data).save(tmp_path / "tall.png")
    assert read_rgb(tmp_path / "tall.png").size == (10, 10000)
    small = read_uint8_array(tmp_path / "tall.png", 8)
    assert small.shape == (3, 8, 8) and small.dtype == np.uint8
    # top half white, bottom half black after the squash
    assert small[:, 0].min() == 255 and small[:, -1].max() == 0


def test_multiband_tiff_refused(tmp_path):
    data = np.zeros((4, 4, 5), dtype=np.uint8)
    write_multiband_tiff(tmp_path / "ms.tif", data)
    with pytest.raises(DataError, match=r"ms\.tif: multi-band image with 5 bands"):
        read_rgb(tmp_path / "ms.tif")
    write_multiband_tiff(tmp_path / "rgb.tif", np.full((4, 4, 3), 9, dtype=np.uint8))
    assert _rgb(tmp_path / "rgb.tif").max() == 9
