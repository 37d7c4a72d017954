"""Fixtures of the unlabelled-archive tools tests: a fake run with ``codes.npz`` and a small index."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.cli.main import main
from tests.fakes.encoder import fake_encoder, make_run, quadrant_code, write_image  # noqa: F401

RED, GREEN, BLUE, BLACK = (200, 0, 0), (0, 200, 0), (0, 0, 200), (0, 0, 0)
COLOURS = {"red": RED, "green": GREEN, "blue": BLUE}


def _labels_of(quadrants) -> list[int]:
    return [int(any(q == c for q in quadrants)) for c in (RED, GREEN, BLUE)]


@pytest.fixture
def labelled_run(tmp_path):
    """A fake run whose ``codes.npz`` holds 20 'training' images (quadrant colours -> labels)."""
    patterns = [[RED] * 4, [GREEN] * 4, [BLUE] * 4, [RED, RED, GREEN, GREEN], [BLACK] * 4]
    codes, labels, paths = [], [], []
    from PIL import Image

    for i in range(20):
        quads = patterns[i % len(patterns)]
        arr = np.zeros((24, 32, 3), np.uint8)
        for (r, c), colour in zip(((0, 0), (0, 1), (1, 0), (1, 1)), quads):
            arr[r * 12 : (r + 1) * 12, c * 16 : (c + 1) * 16] = colour
        codes.append(quadrant_code(Image.fromarray(arr))[0])
        labels.append(_labels_of(quads))
        paths.append(f"train{i}.png")
    run = make_run(tmp_path / "run")
    np.savez(
        run / "codes.npz",
        codes=np.array(codes, np.uint8),
        labels=np.array(labels, np.uint8),
        classes=np.array(["red", "green", "blue"]),
        paths=np.array(paths),
        db_idx=np.arange(20),
        query_idx=np.zeros(0, np.int64),
        bits=np.array(12),
    )
    (run / "label_transfer.json").write_text('{"k": 3, "weighting": "uniform", "threshold": 0.5}')
    return run


@pytest.fixture
def unlabelled_index(tmp_path, labelled_run, fake_encoder):  # noqa: F811
    """An index of 4 unlabelled images + 1 labelled one, built through the CLI."""
    images = tmp_path / "images"
    write_image(images / "allred.png", [RED] * 4, fmt="PNG")
    write_image(images / "allgreen.png", [GREEN] * 4, fmt="PNG")
    write_image(images / "allblue.png", [BLUE] * 4, fmt="PNG")
    write_image(images / "redgreen.png", [RED, RED, GREEN, GREEN], fmt="PNG")
    write_image(images / "known.png", [BLUE, BLUE, BLUE, BLUE], fmt="PNG")
    label_file = tmp_path / "labels.txt"
    label_file.write_text("IMAGE\\LABEL\tred\tgreen\tblue\nknown\t1\t0\t0\n")  # deliberately "wrong": truth wins
    ix = tmp_path / "ix"
    args = ["index", "build", "--run", str(labelled_run), "--images", str(images), "--index", str(ix)]
    assert main(args + ["--labels", str(label_file), "--quiet"]) == 0
    return ix
