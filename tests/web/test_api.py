"""API tests of the web app on a generated 10-image archive with a fake encoder.

Oracles are per-item loops over the known 16-bit patterns and label lists of the
archive (``conftest.make_archive``), never the code under test.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests.web.conftest import MAX_UPLOAD, VOCAB


def png_upload(image: Image.Image, name: str = "query.png"):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"image": (name, buffer.getvalue(), "image/png")}


def loop_distance(a, b) -> int:
    return sum(int(x) != int(y) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def id_of_pos(pos_of_id) -> dict[int, int]:
    return {pos: item_id for item_id, pos in pos_of_id.items()}


def expected_ranking(archive, query_bits, pos_of_id, exclude=None, labels=(), radius=None):
    """[(id, distance)] by a loop: filter, distance, sort by (distance, id)."""
    rows = []
    for item_id, pos in pos_of_id.items():
        if item_id == exclude or not set(labels) <= set(archive.labels[pos]):
            continue
        d = loop_distance(query_bits, archive.bits[pos])
        if radius is None or d <= radius:
            rows.append((item_id, d))
    return sorted(rows, key=lambda r: (r[1], r[0]))


# ---------------------------------------------------------------------------- small endpoints
def test_health(client, archive, encoder):
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["size"] == len(archive.paths)
    assert body["bits"] == 16
    assert body["fingerprint"] == encoder.fingerprint
    assert body["num_labels"] == len(VOCAB)
    assert body["max_upload_bytes"] == MAX_UPLOAD


def test_labels_vocabulary_and_counts(client, archive):
    body = client.get("/api/labels").json()
    assert body["labels"] == VOCAB
    for label in VOCAB:
        assert body["counts"][label] == sum(label in labs for labs in archive.labels)


def test_item_metadata(client, archive, id_of_pos):
    item_id = id_of_pos[3]
    body = client.get(f"/api/items/{item_id}").json()
    assert body["id"] == item_id
    assert body["path"] == f"{archive.paths[3].parent.name}/{archive.paths[3].name}"
    assert (body["width"], body["height"]) == (600, 400)
    assert body["labels"] == archive.labels[3]
    assert body["thumbnail_url"] == f"/api/items/{item_id}/thumbnail"
    assert str(archive.root) not in str(body)


def test_thumbnail_is_small_jpeg_and_cached(client, app, id_of_pos):
    url = f"/api/items/{id_of_pos[3]}/thumbnail"
    first = client.get(url)
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    thumb = Image.open(io.BytesIO(first.content))
    assert thumb.format == "JPEG"
    assert max(thumb.size) <= 256 and thumb.size == (256, 171)  # 600x400 scaled to 256 wide
    hits_before = app.state.web.service.thumbnails.hits
    assert client.get(url).content == first.content
    assert app.state.web.service.thumbnails.hits == hits_before + 1


def test_image_endpoint(client, archive, id_of_pos):
    png = client.get(f"/api/items/{id_of_pos[0]}/image")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == archive.paths[0].read_bytes()
    tif = client.get(f"/api/items/{id_of_pos[4]}/image")  # TIFF is converted for browsers
    assert tif.headers["content-type"] == "image/png"
    converted = np.asarray(Image.open(io.BytesIO(tif.content)).convert("RGB"))
    assert np.array_equal(converted, np.asarray(Image.open(archive.paths[4]).convert("RGB")))


def test_unknown_item_is_404(client):
    for url in ("/api/items/987654", "/api/items/987654/thumbnail", "/api/items/987654/image"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "987654" in response.json()["detail"]


def test_random_returns_indexed_ids(client, pos_of_id):
    seen = {client.get("/api/random").json()["id"] for _ in range(30)}
    assert seen <= set(pos_of_id) and len(seen) > 1


# ---------------------------------------------------------------------------- search
def test_search_by_item_ranks_by_hamming_then_id(client, archive, pos_of_id, id_of_pos):
    query = id_of_pos[0]
    body = client.post("/api/search", data={"item_id": str(query), "k": "5"}).json()
    expected = expected_ranking(archive, archive.bits[0], pos_of_id, exclude=query)[:5]
    assert [(r["id"], r["distance"]) for r in body["results"]] == expected
    assert [r["rank"] for r in body["results"]] == [1, 2, 3, 4, 5]
    # item 2 has the same code as item 0, item 1 differs by one bit
    assert expected[0] == (id_of_pos[2], 0) and expected[1] == (id_of_pos[1], 1)
    assert body["query"]["source"] == "item" and body["query"]["item_id"] == query
    assert body["query"]["labels"] == archive.labels[0]
    assert body["query"]["code"] == "".join(str(b) for b in archive.bits[0])


def test_search_include_self(client, id_of_pos):
    body = client.post("/api/search", json={"item_id": id_of_pos[5], "k": 2, "include_self": True}).json()
    assert (body["results"][0]["id"], body["results"][0]["distance"]) == (id_of_pos[5], 0)
    assert len(body["results"]) == 2


def test_precision_and_shared_labels(client, archive, pos_of_id, id_of_pos):
    query_pos = 4  # labels road, sand, water
    body = client.post("/api/search", data={"item_id": str(id_of_pos[query_pos]), "k": "9"}).json()
    relevant = 0
    for r in body["results"]:
        labels = archive.labels[pos_of_id[r["id"]]]
        shared = [lab for lab in labels if lab in archive.labels[query_pos]]
        assert r["labels"] == labels
        assert r["shared_labels"] == shared
        assert r["relevant"] == (len(shared) >= 1)
        relevant += len(shared) >= 1
    assert len(body["results"]) == 9
    assert body["num_relevant"] == relevant
    assert body["precision"] == pytest.approx(relevant / 9)
    assert 0 < relevant < 9  # the archive makes this a non-trivial check


def test_search_by_upload(client, archive, pos_of_id, id_of_pos):
    image = Image.open(archive.paths[6]).convert("RGB")
    body = client.post("/api/search", files=png_upload(image, "my tile.png"), data={"k": "4"}).json()
    expected = expected_ranking(archive, archive.bits[6], pos_of_id)[:4]
    assert [(r["id"], r["distance"]) for r in body["results"]] == expected
    assert expected[0] == (id_of_pos[6], 0)
    assert body["query"]["source"] == "upload" and body["query"]["name"] == "my tile.png"
    assert body["query"]["labels"] is None
    assert (body["query"]["width"], body["query"]["height"]) == image.size
    assert body["precision"] is None and all(r["relevant"] is None for r in body["results"])
    assert body["timing_ms"]["total_ms"] >= body["timing_ms"]["encode_ms"] >= 0


def test_search_does_only_the_search_attention_has_its_own_endpoint(client, archive, id_of_pos):
    body = client.post("/api/search", data={"item_id": str(id_of_pos[0])}).json()
    assert body["attention_url"] is None and body["attention_error"] is None
    assert "attention_ms" not in body["timing_ms"] or body["timing_ms"]["attention_ms"] == 0
    response = client.get(f"/api/items/{id_of_pos[0]}/attention")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    heat = Image.open(io.BytesIO(response.content))
    assert heat.format == "PNG" and heat.size == (64, 64) and heat.mode == "RGB"
    # the fake attention is the grey level: bright blocks get the hot (red) end of the map
    arr = np.asarray(heat, dtype=int)
    grid = archive.bits[0].reshape(4, 4)
    hot = arr[8, 8] if grid[0, 0] else None
    if hot is not None:
        assert hot[0] > hot[2]
    cold_r, cold_c = np.argwhere(grid == 0)[0]
    cold = arr[cold_r * 16 + 8, cold_c * 16 + 8]
    assert cold[2] > cold[0]
    inline = client.post("/api/search", data={"item_id": str(id_of_pos[0]), "attention": "true"}).json()
    assert inline["attention_url"].startswith("data:image/png;base64,")  # opt-in, as before
    assert base64.b64decode(inline["attention_url"].split(",", 1)[1]) == response.content
    assert client.get("/api/items/999999/attention").status_code == 404


def test_attention_of_an_upload(client, archive):
    buffer = io.BytesIO()
    Image.open(archive.paths[0]).convert("RGB").save(buffer, format="PNG")
    response = client.post("/api/attention", files={"image": ("q.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).format == "PNG"
    assert client.post("/api/attention", data={"k": "3"}).status_code == 400


def test_k_limits(client, id_of_pos):
    item = str(id_of_pos[0])
    assert len(client.post("/api/search", data={"item_id": item, "k": "3"}).json()["results"]) == 3
    assert len(client.post("/api/search", data={"item_id": item}).json()["results"]) == 9  # default 24, 9 others
    for bad in ("0", "501", "abc"):
        response = client.post("/api/search", data={"item_id": item, "k": bad})
        assert response.status_code == 422, bad
        assert "k" in response.json()["detail"]


def test_radius(client, archive, pos_of_id, id_of_pos):
    query = id_of_pos[0]
    for radius in (0, 1, 6):
        body = client.post("/api/search", data={"item_id": str(query), "radius": str(radius)}).json()
        expected = expected_ranking(archive, archive.bits[0], pos_of_id, exclude=query, radius=radius)
        assert [(r["id"], r["distance"]) for r in body["results"]] == expected
    assert len(expected_ranking(archive, archive.bits[0], pos_of_id, exclude=query, radius=0)) == 1
    # query parameters work as well as form fields
    body = client.post(f"/api/search?radius=1&k=1&item_id={query}").json()
    assert [(r["id"], r["distance"]) for r in body["results"]] == [(id_of_pos[2], 0)]


def test_label_filter(client, archive, pos_of_id, id_of_pos):
    query = id_of_pos[0]
    for labels in (["water"], ["trees", "road"], ["road", "sand", "water"]):
        body = client.post("/api/search", data={"item_id": str(query), "labels": labels}).json()
        expected = expected_ranking(archive, archive.bits[0], pos_of_id, exclude=query, labels=labels)
        assert [(r["id"], r["distance"]) for r in body["results"]] == expected
        assert body["params"]["labels"] == labels
    assert [r["id"] for r in body["results"]] == [id_of_pos[4]]  # the only item with all three
    empty = client.post("/api/search", data={"item_id": str(query), "labels": ["buildings", "sand"]}).json()
    assert empty["results"] == [] and empty["precision"] is None
    # label names are matched like label files (case, '-' / space)
    assert client.post("/api/search", json={"item_id": query, "labels": "WATER"}).json()["params"]["labels"] == [
        "water"
    ]


def test_unknown_label_is_400(client, id_of_pos):
    response = client.post("/api/search", data={"item_id": str(id_of_pos[0]), "labels": ["lava"]})
    assert response.status_code == 400
    assert "lava" in response.json()["detail"] and "water" in response.json()["detail"]


def test_search_needs_exactly_one_query(client, archive, id_of_pos):
    neither = client.post("/api/search", data={"k": "3"})
    assert neither.status_code == 400 and "item_id" in neither.json()["detail"]
    both = client.post(
        "/api/search", files=png_upload(Image.open(archive.paths[0])), data={"item_id": str(id_of_pos[0])}
    )
    assert both.status_code == 400 and "not both" in both.json()["detail"]
    assert client.post("/api/search", json={"item_id": 987654}).status_code == 404
    bad_json = client.post("/api/search", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400


# ---------------------------------------------------------------------------- upload safety
def test_text_file_upload_is_400_with_message(client):
    response = client.post(
        "/api/search", files={"image": ("notes.txt", b"hello, this is not an image\n" * 20, "text/plain")}
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("notes.txt:") and "image" in detail
    assert "/tmp" not in detail and "mlrsir-upload" not in detail  # no server path leaks


def test_truncated_and_empty_uploads_are_400(client, archive):
    data = archive.paths[0].read_bytes()
    truncated = client.post("/api/search", files={"image": ("cut.png", data[: len(data) // 2], "image/png")})
    assert truncated.status_code == 400 and "cut.png" in truncated.json()["detail"]
    empty = client.post("/api/search", files={"image": ("empty.png", b"", "image/png")})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]


def test_oversized_upload_is_413(client):
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (400, 400, 3), dtype=np.uint8))  # ~480 kB as PNG
    files = png_upload(noise, "big.png")
    assert len(files["image"][1]) > MAX_UPLOAD
    response = client.post("/api/search", files=files)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    # just above the file limit but within the body slack: refused by the endpoint itself
    payload = files["image"][1][: MAX_UPLOAD + 10]
    response = client.post("/api/search", files={"image": ("edge.png", payload, "image/png")})
    assert response.status_code == 413 and "edge.png" in response.json()["detail"]


def test_chunked_oversized_body_is_413(client):
    def chunks():
        for _ in range(40):
            yield b"x" * 16384  # 640 kB without a Content-Length header

    response = client.post(
        "/api/search", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zzz"}
    )
    assert response.status_code == 413


TRAVERSAL_URLS = [
    "/api/items/../../../../etc/passwd",
    "/api/items/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/items/..%2F..%2F..%2Fetc%2Fpasswd/image",
    "/api/items/%252e%252e%252fetc%252fpasswd/thumbnail",
    "/api/items//etc/passwd/image",
    "/api/items/-1",
    "/api/items/1%2f..%2f..%2fetc%2fpasswd",
    "/api/items/0x1",
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2f%2e%2e%2fcli%2fserve.py",
    "/static//etc/passwd",
]


@pytest.mark.parametrize("url", TRAVERSAL_URLS)
def test_path_traversal_is_404(client, url):
    response = client.get(url)
    assert response.status_code == 404, (url, response.status_code)
    assert b"root:" not in response.content and b"create_app" not in response.content


# ---------------------------------------------------------------------------- schema and page
def test_openapi_schema_documents_the_api(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/search",
        "/api/items/{item_id}",
        "/api/items/{item_id}/thumbnail",
        "/api/items/{item_id}/image",
        "/api/random",
        "/api/health",
        "/api/labels",
    ):
        assert path in paths, path
    search = paths["/api/search"]["post"]
    assert "multipart/form-data" in search["requestBody"]["content"]
    assert "image" in search["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    assert {"SearchResponse", "ResultItem", "SearchParams"} <= set(schema["components"]["schemas"])
    assert "413" in search["responses"] and "400" in search["responses"]


def test_page_and_static_files(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "/static/style.css" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing external
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200
        assert "https://" not in asset.text and "http://" not in asset.text
