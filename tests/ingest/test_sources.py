"""Sources of the ingest pipeline: the public image iterator training reads, and the skip
rule (items present are never loaded)."""

from __future__ import annotations

import numpy as np

from mlrsir.geo.radiometry import Radiometry
from mlrsir.index.store import CodeIndex
from mlrsir.ingest.engines import LocalEngine
from mlrsir.ingest.fill import fill_index
from mlrsir.sources import ImageFileSource, SceneTileSource, TileOptions, expand_inputs
from tests.fakes.encoder import FakeEncoder, make_run, write_image

from ..geo.conftest import write_raster
from ..geo.test_index_scenes import PixelHashEncoder


def _index(path, encoder):
    return CodeIndex.create(path, bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir="run", classes=None)


def test_image_file_source_iterates_arrays_with_labels(tmp_path):
    write_image(tmp_path / "im" / "a.png", [(200, 0, 0)] * 4, size=(32, 24), fmt="PNG")
    write_image(tmp_path / "im" / "b.png", [(0, 200, 0)] * 4, size=(16, 8), fmt="PNG")
    (tmp_path / "im" / "c.png").write_bytes(b"not a png")
    source = ImageFileSource(expand_inputs([tmp_path / "im"]), {"a": ["red"]})
    got = list(source.iter_images(log=lambda _m: None))
    assert [p.rsplit("/", 1)[1] for p, _a, _m in got] == ["a.png", "b.png"]
    assert got[0][1].shape == (24, 32, 3) and got[0][1].dtype == np.uint8
    assert tuple(got[0][1][0, 0]) == (200, 0, 0)
    assert got[0][2] == {"labels": ["red"], "width": 32, "height": 24}
    assert got[1][2]["labels"] is None
    assert [p for p, _m in source.counts.failed] == [str((tmp_path / "im" / "c.png").resolve())]


def test_scene_tile_source_gives_training_the_tiles_indexing_stores(tmp_path):
    data = np.random.default_rng(2).integers(1, 255, size=(3, 64, 96), dtype=np.uint8)
    data[:, :32, :32] = 0  # one empty tile
    raster = write_raster(tmp_path / "s.tif", data)
    options = TileOptions(tile=32)
    tiles = list(SceneTileSource([raster], options, log=lambda _m: None).iter_images())
    assert len(tiles) == 5
    path, array, meta = tiles[0]
    assert path.endswith("s.tif#32,0,32,32") and array.shape == (32, 32, 3) and array.dtype == np.uint8
    np.testing.assert_array_equal(array, np.moveaxis(data[:, :32, 32:64], 0, -1))  # uint8: values kept
    assert meta["geo"]["crs"] == "EPSG:32618" and meta["width"] == 32
    encoder = PixelHashEncoder()
    with _index(tmp_path / "ix", encoder) as index:
        source = SceneTileSource([raster], options, lambda s, b: Radiometry("uint8", 1, 0, 255), log=lambda _m: None)
        report = fill_index(index, source, LocalEngine(encoder), progress=False, log=lambda _m: None)
        assert report.added == 5 and source.counts.skipped_empty == 1
        stored = sorted(index.get(int(i))["path"] for i in index.ids())
    assert stored == sorted(p for p, _a, _m in tiles)


class CountingSource(ImageFileSource):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.loaded: list[str] = []

    def load(self, path):
        self.loaded.append(path)
        return super().load(path)


def test_present_items_are_never_loaded(tmp_path):
    for i in range(5):
        write_image(tmp_path / "im" / f"{i}.png", [(40 * i, 0, 0)] * 4, fmt="PNG")
    paths = expand_inputs([tmp_path / "im"])
    encoder = FakeEncoder(make_run(tmp_path / "run"))
    with _index(tmp_path / "ix", encoder) as index:
        first = fill_index(index, CountingSource(paths[:3]), LocalEngine(encoder), progress=False)
        source = CountingSource(paths)
        again = fill_index(index, source, LocalEngine(encoder), progress=False)
    assert (first.added, again.added, again.already_present) == (3, 2, 3)
    assert source.loaded == [str(p) for p in paths[3:]]


def test_input_sources_split_images_and_scenes(tmp_path):
    from mlrsir.sources import input_sources

    write_image(tmp_path / "in" / "chip.png", [(10, 20, 30)] * 4, fmt="PNG")
    data = np.random.default_rng(3).integers(1, 4000, size=(3, 64, 64), dtype=np.uint16)
    write_raster(tmp_path / "in" / "scene.tif", data)
    images, scenes = input_sources([tmp_path / "in"], TileOptions(tile=32), log=lambda _m: None)
    assert isinstance(images, ImageFileSource) and isinstance(scenes, SceneTileSource)
    assert len(list(images.iter_images())) == 1
    tiles = list(scenes.iter_images())
    assert len(tiles) == 4 and all(a.shape == (32, 32, 3) and a.dtype == np.uint8 for _p, a, _m in tiles)
    assert scenes.counts.radiometry == {"kind": "reflectance", "scale": 10000.0, "low": 0.0, "high": 0.3}
