"""Decoded-image cache: values equal direct decoding, reuse, invalidation, atomic file."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from mlrsir.data.cache import cache_path, load_image_array
from mlrsir.data.images import read_rgb
from mlrsir.data.ucm import UCMMultiLabel
from mlrsir.errors import DataError
from tests.fixtures.make_datasets import make_ucm_fixture


def test_cache_round_trip(tmp_path):
    root = make_ucm_fixture(tmp_path / "u", scenes=2, per_scene=4, size=20, image_format="png")
    ds = UCMMultiLabel(root)
    cache_dir = tmp_path / "cache"
    array = load_image_array(ds, 16, cache_dir=cache_dir, progress=False)
    assert array.shape == (8, 3, 16, 16) and array.dtype == np.uint8
    for i, path in enumerate(ds.paths):  # oracle: PIL directly
        direct = np.asarray(read_rgb(path).resize((16, 16), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
        assert np.array_equal(array[i], direct)
    target = cache_path(ds, 16, cache_dir)
    assert target.is_file() and [p.name for p in cache_dir.iterdir()] == [target.name]

    # reused: poison the cached file, it must be returned as is
    poisoned = array.copy()
    poisoned[0, 0, 0, 0] ^= 1
    np.save(target, poisoned)
    assert np.array_equal(load_image_array(ds, 16, cache_dir=cache_dir, progress=False), poisoned)

    # touching an image changes the key -> decoded again
    st = os.stat(ds.paths[0])
    os.utime(ds.paths[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = load_image_array(ds, 16, cache_dir=cache_dir, progress=False)
    assert np.array_equal(again, array)
    assert cache_path(ds, 16, cache_dir) != target
    assert not list(cache_dir.glob(".*.tmp"))


def test_cache_env_default_and_bad_image(tmp_path, monkeypatch):
    root = make_ucm_fixture(tmp_path / "u", scenes=1, per_scene=3, size=12)
    ds = UCMMultiLabel(root)
    monkeypatch.setenv("MLRSIR_CACHE", str(tmp_path / "envcache"))
    load_image_array(ds, 8, progress=False)
    assert len(list((tmp_path / "envcache").glob("ucm-8px-*.npy"))) == 1
    ds.paths[1].write_bytes(b"not an image")
    with pytest.raises(DataError, match="not an image"):
        load_image_array(ds, 8, progress=False)
