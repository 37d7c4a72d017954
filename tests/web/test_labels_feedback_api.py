"""Issue 16 API: search by labels, relevance feedback, label filter source."""

from __future__ import annotations


def test_search_by_labels(client, archive):
    r = client.post("/api/search/labels", json={"labels_query": ["water", "sand"], "mode": "all", "k": 5})
    assert r.status_code == 200, r.text
    rows = r.json()["results"]
    assert rows and all({"water", "sand"} <= set(row["labels"]) for row in rows if row["score"] == 1.0)
    assert rows[0]["score"] == 1.0 and rows[0]["label_source"] == "ground_truth" and rows[0]["thumbnail_url"]
    r = client.post("/api/search/labels", json={"labels_query": ["water", "sand"], "mode": "any", "k": 50})
    assert sum(row["score"] == 1.0 for row in r.json()["results"]) == 5
    assert client.post("/api/search/labels", json={"labels_query": ["nope"]}).status_code == 400
    assert client.post("/api/search/labels", json={"labels_query": []}).status_code == 422


def test_feedback_round(client):
    first = client.post("/api/search", json={"item_id": 1, "k": 5}).json()
    ids = [row["id"] for row in first["results"]]
    body = {"item_id": 1, "relevant": ids[:2], "nonrelevant": ids[2:], "k": 5, "labels": ["water"]}
    r = client.post("/api/search/feedback", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["query_code"]) == 16 and out["label_filter_source"] == "ground_truth"
    assert all("water" in row["labels"] for row in out["results"])
    r = client.post("/api/search/feedback", json={"query_code": first["query"]["code"], "k": 3})
    assert r.status_code == 200 and len(r.json()["results"]) == 3
    assert client.post("/api/search/feedback", json={"k": 3}).status_code == 400
    assert client.post("/api/search/feedback", json={"query_code": "0101", "k": 3}).status_code == 400


def test_filter_source(client):
    r = client.get("/api/labels/filter-source", params=[("labels", "water")])
    assert r.status_code == 200 and r.json()["label_filter_source"] == "ground_truth"
