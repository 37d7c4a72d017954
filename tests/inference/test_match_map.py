"""Where is the match: occlusion on the asymmetric score, with an encoder that looks at one quadrant."""

import numpy as np
import pytest
from PIL import Image

from mlrsir.errors import ConfigError
from mlrsir.inference.match_map import match_map, occluded_views


class QuadrantEncoder:
    """Outputs depend only on the top-left quadrant's mean red value (8 'bits')."""

    def encode_images(self, images):
        outs = []
        for im in images:
            a = np.asarray(im, dtype=np.float64)
            h, w = a.shape[:2]
            v = a[: h // 2, : w // 2, 0].mean() / 255.0
            outs.append(np.tanh((v - 0.3) * 4) * np.ones(8))
        outs = np.array(outs)
        return (outs > 0).astype(np.uint8), outs.astype(np.float32)


def _image():
    a = np.zeros((64, 64, 3), np.uint8)
    a[:32, :32, 0] = 255  # a red top-left quadrant, the rest black
    return Image.fromarray(a)


def test_occluded_views_fill_one_cell_with_the_mean():
    views = occluded_views(_image(), 2)
    assert len(views) == 4
    mean_red = round(255 * 0.25)
    first = np.asarray(views[0])
    assert (first[:32, :32, 0] == mean_red).all() and (first[32:, 32:, 0] == 0).all()
    last = np.asarray(views[3])
    assert (last[:32, :32, 0] == 255).all() and (last[32:, 32:, 0] == mean_red).all()


def test_the_quadrant_the_encoder_reads_is_the_match():
    image = _image()
    _, out = QuadrantEncoder().encode_images([image])
    result = match_map(QuadrantEncoder(), image, out[0], grid=2)
    assert result["forward_passes"] == 5
    assert result["map"][0, 0] == pytest.approx(1.0)
    assert np.allclose(result["map"].ravel()[1:], 0.0)
    # hand value: v falls from 1.0 to 64/255 (the mean red, rounded), so each of the 8 bits
    # drops t * (t - tanh((64/255 - 0.3) * 4)) with t = tanh(2.8)
    t = np.tanh(2.8)
    assert result["drops"][0, 0] == pytest.approx(8 * t * (t - np.tanh((64 / 255 - 0.3) * 4)), rel=1e-5)


def test_codes_are_accepted_as_queries_and_bad_grids_refused():
    result = match_map(QuadrantEncoder(), _image(), np.ones(8, np.uint8), grid=2)
    assert result["map"][0, 0] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="grid"):
        match_map(QuadrantEncoder(), _image(), np.ones(8), grid=0)
    with pytest.raises(ConfigError, match="hashing model"):
        match_map(QuadrantEncoder(), _image(), np.ones(5), grid=2)
