"""GET /api/items/{id}/match: where is the match, through the API."""

import numpy as np


def _two_ids(client):
    ids = [i for i in range(0, 60) if client.get(f"/api/items/{i}").status_code == 200]
    return ids[0], ids[3]


def test_match_map_shape_range_and_cost(client):
    hit, query = _two_ids(client)
    answer = client.get(f"/api/items/{hit}/match", params={"query_id": query, "grid": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    grid = np.array(body["map"])
    assert grid.shape == (2, 2) and body["forward_passes"] == 5
    assert (grid >= 0).all() and (grid <= 1).all()
    drops = np.array(body["drops"])
    assert (grid.max() == 1.0) == (drops.max() > 0)


def test_match_errors(client):
    hit, _ = _two_ids(client)
    assert client.get(f"/api/items/{hit}/match", params={"query_id": 987654}).status_code == 404
    assert client.get("/api/items/987654/match", params={"query_id": hit}).status_code == 404
    assert client.get(f"/api/items/{hit}/match", params={"query_id": hit, "grid": 0}).status_code == 422
    assert client.get(f"/api/items/{hit}/match").status_code == 422
