"""Fixtures of the web tests: a tiny generated archive, its index and a test client.

The archive holds a handful of 4x4-block pattern images (see ``fakes.pattern_image``),
so ``FakeEncoder`` codes are known exactly and distances can be checked with a loop.
The index is the real ``mlrsir.index.store.CodeIndex`` when that module exists, else the
in-memory ``FakeIndex`` with the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.fakes.encoder import FakeEncoder
from tests.web.fakes import FAKE_BITS, FakeIndex, pattern_image

VOCAB = ["water", "trees", "buildings", "road", "sand"]
MAX_UPLOAD = 200_000

ITEM_LABELS = [
    ["water", "sand"],
    ["water", "trees"],
    ["buildings", "road"],
    ["trees"],
    ["road", "sand", "water"],
    ["buildings"],
    ["trees", "road"],
    ["water"],
    ["sand"],
    ["buildings", "trees", "road"],
]


@dataclass
class Archive:
    root: Path
    paths: list[Path]
    bits: np.ndarray  # (N, 16) uint8, the pattern of each image (= its fake code)
    labels: list[list[str]]


def _patterns(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, size=(n, FAKE_BITS), dtype=np.uint8)
    bits[1] = bits[0]
    bits[1, 5] ^= 1  # near duplicate of item 0 (distance 1)
    bits[2] = bits[0]  # same code as item 0: a tie broken by id
    return bits


def make_archive(root: Path) -> Archive:
    bits = _patterns(len(ITEM_LABELS))
    scenes = ["coast", "forest", "city"]
    paths = []
    for i, pattern in enumerate(bits):
        scene_dir = root / "Images" / scenes[i % len(scenes)]
        scene_dir.mkdir(parents=True, exist_ok=True)
        image = pattern_image(pattern.tolist(), size=64, tint=(40 * (i % 3), 20, 60))
        if i == 3:  # a large one, to check thumbnail resizing
            image = image.resize((600, 400), Image.Resampling.NEAREST)
        ext = {3: ".jpg", 4: ".tif"}.get(i, ".png")
        path = scene_dir / f"tile{i:02d}{ext}"
        image.save(path, quality=95) if ext == ".jpg" else image.save(path)
        paths.append(path)
    return Archive(root=root, paths=paths, bits=bits, labels=[list(lab) for lab in ITEM_LABELS])


def _records(archive: Archive) -> list[dict]:
    records = []
    for path, labels in zip(archive.paths, archive.labels):
        with Image.open(path) as im:
            width, height = im.size
        records.append({"path": str(path), "width": width, "height": height, "labels": labels})
    return records


def build_index(archive: Archive, index_dir: Path, encoder: FakeEncoder, labelled: bool = True):
    """Index the archive with the fake encoder. Returns ``(index_path, index_or_None)``:
    ``None`` means the real CodeIndex was written to ``index_path`` for the app to open."""
    codes, _ = encoder.encode_images([Image.open(p).convert("RGB") for p in archive.paths])
    assert np.array_equal(codes, archive.bits), "fake encoder must reproduce the patterns"
    records = _records(archive)
    if not labelled:
        records = [{**r, "labels": None} for r in records]
    classes = VOCAB if labelled else None
    try:
        from mlrsir.index.store import CodeIndex
    except ImportError:
        index = FakeIndex(FAKE_BITS, encoder.fingerprint, run_dir=str(encoder.run_dir), classes=classes)
        index.add(records, codes)
        return index_dir, index
    index = CodeIndex.create(
        index_dir, bits=FAKE_BITS, fingerprint=encoder.fingerprint, run_dir=str(encoder.run_dir), classes=classes
    )
    index.add(records, codes)
    index.close()
    return index_dir, None


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Archive:
    return make_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> FakeEncoder:
    return FakeEncoder(run_dir=tmp_path_factory.mktemp("run"), classes=VOCAB)


@pytest.fixture(scope="module")
def app(archive, encoder, tmp_path_factory):
    from mlrsir.web.app import create_app

    index_path, index = build_index(archive, tmp_path_factory.mktemp("idx") / "index", encoder)
    return create_app(index_path, encoder=encoder, index=index, max_upload_bytes=MAX_UPLOAD)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://localhost") as test_client:  # Host must be a loopback name
        yield test_client


@pytest.fixture(scope="module")
def pos_of_id(client, archive) -> dict[int, int]:
    """Map index id -> archive position, found through the items endpoint by display name."""
    names = {f"{p.parent.name}/{p.name}": i for i, p in enumerate(archive.paths)}
    found = {}
    for item_id in range(0, 3 * len(archive.paths)):
        response = client.get(f"/api/items/{item_id}")
        if response.status_code == 200:
            found[item_id] = names[response.json()["path"]]
    assert sorted(found.values()) == list(range(len(archive.paths)))
    return found
