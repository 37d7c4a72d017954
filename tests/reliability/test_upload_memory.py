"""Memory of ``mlrsir serve`` under concurrent uploads of a very large JPEG (issue 10, item 1).

A 6000x6000 JPEG of ~0.5 MB used to be decoded at full size (108 MB per upload, plus
copies in the query path); uploads are now decoded at reduced scale, at most 2 at once,
capped in pixels, and the memory is handed back afterwards. The full-size measurement
(16 uploads of 9000x9000 px with a real model) is ``mlrsir bench upload-memory``, see
docs/RELIABILITY.md.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.bench.upload_memory import judge, measure
from mlrsir.data.images import ImageTooLargeError
from mlrsir.web.imaging import UploadDecoder
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import VOCAB, build_index, make_archive

REPO = Path(__file__).resolve().parents[2]


def test_concurrent_large_uploads_keep_server_memory_bounded(tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path / "run", classes=VOCAB)
    index_path, _ = build_index(make_archive(tmp_path / "archive"), tmp_path / "index", encoder)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    serve = [sys.executable, "-m", "tests.reliability.fake_serve", "serve", "--index", str(index_path)]

    def command(port: int) -> list[str]:
        return [*serve, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]

    report = measure(command, uploads=8, size=6000, settle=1.0, env=env, request_timeout=120)
    growth = report["peak_rss_mib"] - report["warm_rss_mib"]
    judge(report, max_peak_mib=report["warm_rss_mib"] + 200, max_after_growth_mib=64)
    assert report["statuses"] == {"200": 8}, report
    assert growth < 200, report
    assert report["passed"], report


def test_pixel_cap_and_reduced_jpeg_decoding():
    decoder = UploadDecoder(max_pixels=2_000_000, max_concurrent=1)
    big = Image.new("RGB", (3000, 2000), (30, 90, 200))
    jpeg, png = io.BytesIO(), io.BytesIO()
    big.save(jpeg, format="JPEG")
    big.save(png, format="PNG")
    image = decoder(jpeg.getvalue(), "big.jpg")  # decoded at 1/2 scale (1500x1000), then <= 1024 px
    assert max(image.size) <= 1024 and image.info["original_size"] == (3000, 2000)
    assert np.abs(np.asarray(image, dtype=int) - (30, 90, 200)).max() < 8
    try:
        decoder(png.getvalue(), "big.png")  # PNG cannot be reduced while decoding: 6 MP > 2 MP
    except ImageTooLargeError as exc:
        assert "big.png" in str(exc) and "limit is 2000000" in str(exc)
    else:
        raise AssertionError("a PNG above the pixel cap was decoded")
