"""`mlrsir search` and `POST /api/search` go through mlrsir.inference.search: same rows."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from mlrsir.inference.search import search_by_image, search_by_item
from mlrsir.web.app import create_app
from mlrsir.web.results import client_path
from tests.fakes.encoder import FakeEncoder, fake_encoder, make_run, write_image  # noqa: F401

R, G, B, W, K = (230, 10, 10), (10, 230, 10), (10, 10, 230), (250, 250, 250), (5, 5, 5)
TILES = {  # name: (quadrant colours, labels)
    "t0": ([R, R, R, R], ["red"]),
    "t1": ([R, R, R, W], ["red", "white"]),
    "t2": ([R, G, R, G], ["red", "green"]),
    "t3": ([G, G, G, G], ["green"]),
    "t4": ([B, B, W, W], ["blue", "white"]),
    "t5": ([K, K, K, K], []),
    "t6": ([R, R, W, W], ["red", "white"]),
    "t7": ([W, W, W, W], ["white"]),
    "t8": ([R, B, G, W], ["red", "green", "blue", "white"]),
}
CLASSES = ["red", "green", "blue", "white"]


@pytest.fixture
def built(tmp_path, fake_encoder):
    images = tmp_path / "images"
    for name, (colours, _) in TILES.items():
        write_image(images / f"{name}.png", colours, fmt="PNG")
    labels = tmp_path / "labels.txt"
    labels.write_text(
        "IMAGE\\LABEL\t"
        + "\t".join(CLASSES)
        + "\n"
        + "".join(name + "".join(f"\t{int(c in tags)}" for c in CLASSES) + "\n" for name, (_, tags) in TILES.items())
    )
    run = make_run(tmp_path / "run")
    ix = tmp_path / "ix"
    assert (
        main(
            [
                "index",
                "build",
                "--run",
                str(run),
                "--images",
                str(images),
                "--labels",
                str(labels),
                "--index",
                str(ix),
                "--quiet",
            ]
        )
        == 0
    )
    query = write_image(tmp_path / "query.png", [R, R, G, W], fmt="PNG")
    return ix, run, query


@pytest.mark.parametrize(
    "k, radius, labels", [(5, None, []), (9, 4, []), (3, None, ["red"]), (9, None, ["red", "white"])]
)
def test_cli_and_web_return_the_same_rows(built, capsys, k, radius, labels):
    ix, run, query = built
    argv = ["search", "--index", str(ix), "--query", str(query), "--k", str(k), "--json"]
    argv += ["--radius", str(radius)] if radius is not None else []
    argv += ["--label", *labels] if labels else []
    capsys.readouterr()
    assert main(argv) == 0
    cli_rows = json.loads(capsys.readouterr().out)

    with CodeIndex.open(ix, readonly=True) as index:
        rows = search_by_image(
            index, FakeEncoder(run), Image.open(query).convert("RGB"), k=k, radius=radius, label_filter=labels
        )
    assert rows == cli_rows and rows, "the CLI prints the service's rows"
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert all(radius is None or r["distance"] <= radius for r in rows)
    assert all(set(labels) <= set(r["labels"]) for r in rows)

    form = {"k": str(k), **({"radius": str(radius)} if radius is not None else {})}
    with TestClient(create_app(ix, encoder=FakeEncoder(run)), base_url="http://localhost") as client:
        response = client.post(
            "/api/search",
            data={**form, "labels": labels},
            files={"image": ("query.png", query.read_bytes(), "image/png")},
        )
        assert response.status_code == 200, response.text
        web = response.json()["results"]
    assert [(r["rank"], r["id"], r["distance"], r["path"], r["labels"]) for r in web] == [
        (r["rank"], r["id"], r["distance"], client_path(r["path"]), r["labels"]) for r in rows
    ]


def test_item_search_leaves_the_item_out_unless_asked(built):
    ix, run, _ = built
    with CodeIndex.open(ix, readonly=True) as index:
        first = int(index.ids()[0])
        without = search_by_item(index, first, k=4)
        with_self = search_by_item(index, first, k=4, include_self=True)
    assert first not in [r["id"] for r in without] and len(without) == 4
    assert with_self[0]["id"] == first and with_self[0]["distance"] == 0
    with TestClient(create_app(ix, encoder=FakeEncoder(run)), base_url="http://localhost") as client:
        web = client.post("/api/search", data={"item_id": str(first), "k": "4"}).json()["results"]
    assert [(r["id"], r["distance"]) for r in web] == [(r["id"], r["distance"]) for r in without]
