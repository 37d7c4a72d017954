"""Uploads are decoded by the one image decoder (mlrsir.data.images), in memory."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.images import read_rgb
from mlrsir.errors import DataError
from mlrsir.web.imaging import decode_upload


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "image",
    [
        Image.fromarray(np.arange(0, 65536, 4096, dtype=np.uint16).reshape(4, 4)),  # 16-bit grey
        Image.fromarray(
            np.dstack([np.full((4, 4, 3), 200, np.uint8), np.arange(0, 256, 16, dtype=np.uint8).reshape(4, 4)]), "RGBA"
        ),  # alpha
        Image.new("P", (4, 4), 3),
    ],
    ids=["16bit", "rgba", "palette"],
)
def test_upload_decodes_like_the_same_file(tmp_path, image):
    data = _png(image)
    (tmp_path / "x.png").write_bytes(data)
    decoded = decode_upload(data, "x.png")
    assert decoded.mode == "RGB"
    assert np.array_equal(np.asarray(decoded), np.asarray(read_rgb(tmp_path / "x.png")))


def test_upload_errors_name_the_upload_only():
    with pytest.raises(DataError, match="^q.png: the uploaded file is empty"):
        decode_upload(b"", "/etc/q.png")
    with pytest.raises(DataError, match="^notes.txt: not an image file"):
        decode_upload(b"hello, not an image", "notes.txt")
    with pytest.raises(DataError, match="^cut.png: truncated or corrupt"):
        decode_upload(_png(Image.new("RGB", (64, 64), (9, 9, 9)))[:60], "cut.png")
