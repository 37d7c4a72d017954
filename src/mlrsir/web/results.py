"""The web's form of items and search results: display names, URLs, relevance and precision.

Rows come from :func:`mlrsir.inference.search.search_code` (``{"rank", "id", "distance",
"path", "width", "height", "labels", "geo"}``, ``path`` as stored); this module turns them
into what clients see: a display name instead of the server path, the item's URLs, the
labels shared with the query and whether each result is relevant (shares >= 1 label,
:func:`mlrsir.metrics.relevance.relevance_matrix`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from mlrsir.metrics.relevance import relevance_matrix


def client_path(path: str) -> str:
    """Name shown to clients: ``parent-folder/file-name`` of the stored path (no server path)."""
    p = Path(str(path).replace("\\", "/"))
    return f"{p.parent.name}/{p.name}" if p.parent.name else p.name


def item_json(record: dict) -> dict:
    """``{id, path (display name), width, height, labels, thumbnail_url, image_url}`` of a stored record."""
    item_id = int(record["id"])
    return {
        "id": item_id,
        "path": client_path(record["path"]),
        "width": record.get("width"),
        "height": record.get("height"),
        "labels": list(record["labels"]) if record.get("labels") is not None else None,
        "thumbnail_url": f"/api/items/{item_id}/thumbnail",
        "image_url": f"/api/items/{item_id}/image",
    }


def with_urls(rows: list[dict]) -> list[dict]:
    """Rows of any search with ``path`` as a display name and the item's URLs added."""
    out = []
    for row in rows:
        item = item_json(row)
        out.append(
            {**row, "path": item["path"], "thumbnail_url": item["thumbnail_url"], "image_url": item["image_url"]}
        )
    return out


def code_text(code: np.ndarray) -> str:
    """A ``(1, bits)`` code as a string of ``0``/``1`` characters."""
    return "".join("1" if b else "0" for b in code[0])


def result_rows(
    rows: list[dict],
    query_labels: list[str] | None,
    scene_ref: Callable[[dict | None, str | None], dict | None],
    clouds: Mapping[int, float | None] | None = None,
) -> list[dict]:
    """The ``results`` of a search response (:class:`~mlrsir.web.schemas.ResultItem`);
    ``scene_ref(geo, path)`` names each scene tile's scene, ``clouds`` gives the stored
    cloud fraction of an id (``relevant`` is filled by :func:`mark_relevant`)."""
    query_set = set(query_labels or [])
    results = []
    for row in rows:
        item = item_json(row)
        labels = item["labels"]
        geo = row.get("geo")
        results.append(
            {
                "rank": row["rank"],
                "id": item["id"],
                "distance": row.get("distance"),
                **({"score": row["score"]} if "score" in row else {}),
                "path": item["path"],
                "labels": labels,
                "shared_labels": [lab for lab in (labels or []) if lab in query_set],
                "relevant": None,
                "thumbnail_url": item["thumbnail_url"],
                "image_url": item["image_url"],
                "geo": geo,
                "cloud": (clouds or {}).get(item["id"]),
                "scene": scene_ref(geo, str(row["path"])) if geo else None,
            }
        )
    return results


def mark_relevant(
    results: list[dict], query_labels: list[str] | None, multi_hot: Callable[[list[str] | None], np.ndarray]
) -> tuple[float | None, int | None]:
    """Set each result's ``relevant`` and return ``(precision, num_relevant)``: the fraction
    and number of results sharing >= 1 label with the query; ``(None, None)`` (and
    ``relevant`` left null) when the query's or a result's labels are unknown, or no results."""
    if query_labels is None or not results or any(r["labels"] is None for r in results):
        return None, None
    rel = relevance_matrix(multi_hot(query_labels)[None, :], np.stack([multi_hot(r["labels"]) for r in results]))[0]
    for r, is_rel in zip(results, rel):
        r["relevant"] = bool(is_rel)
    num_relevant = int(rel.sum())
    return num_relevant / len(results), num_relevant
