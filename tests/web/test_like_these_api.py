"""POST /api/like-these: find all like these over the served index."""

import numpy as np

from mlrsir.inference.like_these import classifier_scores


def test_ranking_equals_the_classifier_over_the_archive(client, archive, pos_of_id):
    ids = sorted(pos_of_id, key=pos_of_id.get)  # ids in archive order
    pos, neg = [ids[0], ids[1]], [ids[5]]
    answer = client.post("/api/like-these", json={"positives": pos, "negatives": neg, "k": 4})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["rank"] for r in results] == [1, 2, 3, 4]
    # oracle: the same classifier on the archive's codes, marked items out, ties by id
    codes = archive.bits.astype(np.uint8)
    scores = classifier_scores(codes, [ids.index(i) for i in pos], [ids.index(i) for i in neg])
    ranked = sorted(range(len(ids)), key=lambda i: (-scores[i], ids[i]))
    assert [r["id"] for r in results] == [ids[i] for i in ranked if ids[i] not in pos + neg][:4]
    assert all(r["score"] is not None and r["distance"] is None for r in results)


def test_bad_marks_are_4xx_with_a_message(client, pos_of_id):
    assert client.post("/api/like-these", json={"positives": []}).status_code == 422
    missing = client.post("/api/like-these", json={"positives": [987654]})
    assert missing.status_code == 404 and "987654" in missing.json()["detail"]
    ids = list(pos_of_id)
    both = client.post("/api/like-these", json={"positives": [ids[0]], "negatives": [ids[0]]})
    assert both.status_code == 400 and "both" in both.json()["detail"]
