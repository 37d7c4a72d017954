"""Issue 16 web API: search by labels and relevance feedback.

* ``POST /api/search/labels`` JSON ``{"labels_query": ["ship", "dock"], "mode": "all" | "any",
  "k": 24}``: items ranked by their label scores (ground truth 1/0 where an item has labels,
  else predicted scores, :func:`mlrsir.index.predicted.rank_by_labels`); each row says its
  ``label_source``.
* ``POST /api/search/feedback`` JSON ``{"item_id": int | null, "query_code": "0101..." | null,
  "relevant": [ids], "nonrelevant": [ids], "k": 24, "labels": [filter]}``: search again with
  the Rocchio-moved query (:mod:`mlrsir.inference.feedback`); the query is the stored code of
  ``item_id``, else ``query_code`` (the ``query.code`` of an earlier search response), else
  none (``q = 0``: only the marked items define it). Response ``{"results", "query_code",
  "label_filter_source"}``.
* ``GET /api/labels/filter-source?labels=a&labels=b``: which labels the label filter uses
  (``ground_truth``, ``predicted`` or ``mixed``).

Labels are checked as ``/api/search`` checks its filter
(:meth:`mlrsir.web.label_vocabulary.LabelVocabulary.check`): an unknown label is a 400 naming
the known ones, and on an index without usable labels every route here is a 400 that says
how to get labels. Ids are strict integers in SQLite's range (``true`` is not item 1).
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, StrictInt
from starlette.concurrency import run_in_threadpool

from mlrsir.errors import ConfigError
from mlrsir.index.predicted import label_filter_ids, prediction_meta, rank_by_labels
from mlrsir.inference.feedback import feedback_query
from mlrsir.inference.search import search_code
from mlrsir.web.results import code_text, with_urls
from mlrsir.web.schemas import ERROR_RESPONSES, MAX_ITEM_ID, MAX_K
from mlrsir.web.state import WebState, get_state

router = APIRouter()

MAX_LABEL_CHARS = 200
"""Longest label name accepted in a request (the longest class name is far shorter)."""

ItemId = Annotated[StrictInt, Field(ge=0, le=MAX_ITEM_ID)]
Label = Annotated[str, Field(max_length=MAX_LABEL_CHARS)]


class LabelSearchParams(BaseModel):
    labels_query: list[Label] = Field(..., min_length=1, max_length=17)
    mode: str = Field("all", pattern="^(all|any)$")
    k: StrictInt = Field(24, ge=1, le=MAX_K)


class FeedbackParams(BaseModel):
    item_id: ItemId | None = None
    query_code: str | None = Field(None, pattern="^[01]+$", max_length=4096)
    relevant: list[ItemId] = Field(default_factory=list, max_length=500)
    nonrelevant: list[ItemId] = Field(default_factory=list, max_length=500)
    k: StrictInt = Field(24, ge=1, le=MAX_K)
    labels: list[Label] = Field(default_factory=list, max_length=17)


@router.post("/api/search/labels", responses=ERROR_RESPONSES, summary="Rank items by (predicted) label scores")
async def search_labels(params: LabelSearchParams, state: WebState = Depends(get_state)):
    service = state.service

    def run():
        labels = service.labels.check(params.labels_query, "labels_query")
        rows = service.on_index(lambda idx: rank_by_labels(idx, labels, mode=params.mode, k=params.k))
        if not rows:
            raise ConfigError("labels_query: no indexed item has ground-truth or predicted scores for these labels")
        return {"params": params.model_dump(), "results": with_urls(rows)}

    return await run_in_threadpool(run)


@router.post("/api/search/feedback", responses=ERROR_RESPONSES, summary="Search again with relevance feedback")
async def search_feedback(params: FeedbackParams, state: WebState = Depends(get_state)):
    service = state.service
    if params.item_id is None and params.query_code is None and not params.relevant:
        raise ConfigError("send an item_id, a query_code or at least one relevant item")
    if params.query_code is not None and len(params.query_code) != service.bits:
        raise ConfigError(f"query_code has {len(params.query_code)} bits, the index stores {service.bits}-bit codes")

    def run():
        labels = service.labels.check(params.labels) or None

        def on_index(idx):
            try:
                if params.item_id is not None:
                    start = {"item_id": params.item_id}
                elif params.query_code is not None:
                    start = {"query_code": np.array([c == "1" for c in params.query_code], np.uint8)}
                else:
                    start = {"query_output": np.zeros(idx.bits)}
                code, moved = feedback_query(idx, relevant=params.relevant, nonrelevant=params.nonrelevant, **start)
            except KeyError as exc:
                raise ConfigError(f"no indexed item with id {exc}") from None
            rows = search_code(idx, code, k=params.k, label_filter=labels, query_output=moved.astype(np.float32))
            source = label_filter_ids(idx, labels)[1] if labels else None
            return rows, code, source

        rows, code, source = service.on_index(on_index)
        return {
            "params": params.model_dump(),
            "query_code": code_text(code),
            "label_filter_source": source,
            "results": with_urls(rows),
        }

    return await run_in_threadpool(run)


@router.get("/api/labels/filter-source", responses=ERROR_RESPONSES, summary="Which labels the label filter uses")
async def filter_source(labels: list[str] = Query(...), state: WebState = Depends(get_state)):
    service = state.service

    def run():
        wanted = service.labels.check(labels)
        source = service.on_index(lambda idx: label_filter_ids(idx, wanted)[1])
        meta = service.on_index(prediction_meta)
        return {"labels": wanted, "label_filter_source": source, "predictions": meta}

    return await run_in_threadpool(run)
