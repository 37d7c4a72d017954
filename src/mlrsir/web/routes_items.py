"""Routes of indexed items and of the server: ``/api/health``, ``/api/labels``,
``/api/random``, ``/api/items/{id}`` (+ ``/thumbnail``, ``/image``).

Items are addressed by integer id only (the routes only match ``[0-9]+``), so paths such
as ``../`` match no route and get 404; file paths come from the index, never from a request.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from mlrsir import __version__
from mlrsir.inference.match_map import DEFAULT_GRID
from mlrsir.web.image_responses import image_response, image_route
from mlrsir.web.results import item_json
from mlrsir.web.schemas import ERROR_RESPONSES, HealthResponse, ItemResponse, LabelsResponse, RandomResponse
from mlrsir.web.state import WebState, get_state

router = APIRouter()


@router.get("/api/health", response_model=HealthResponse, summary="Server and index status")
def health(state: WebState = Depends(get_state)):
    service = state.service
    return {
        "status": "ok",
        "size": service.size(),
        "bits": service.bits,
        "fingerprint": service.fingerprint,
        "num_labels": len(service.labels.usable()),
        "georeferenced": service.scenes.has_georeferenced(),
        "version": __version__,
        "max_upload_bytes": state.max_upload_bytes,
        "basemap": state.basemap,
    }


@router.get("/api/labels", response_model=LabelsResponse, summary="Label vocabulary with image counts")
def labels(state: WebState = Depends(get_state)):
    return state.service.labels.listing()


@router.get(
    "/api/random", response_model=RandomResponse, responses=ERROR_RESPONSES, summary="A random indexed image id"
)
def random_item(state: WebState = Depends(get_state)):
    return {"id": state.service.random_id()}


@router.get(
    "/api/items/{item_id:int}",
    response_model=ItemResponse,
    responses=ERROR_RESPONSES,
    summary="Metadata of an indexed image",
)
def item(item_id: int, state: WebState = Depends(get_state)):
    return item_json(state.service.record(item_id))


@image_route(router, "/api/items/{item_id:int}/thumbnail", "image/jpeg", "JPEG thumbnail (longest side <= 256 px)")
def thumbnail(item_id: int, state: WebState = Depends(get_state)):
    return image_response(state.service.images.thumbnail(item_id), "image/jpeg")


@image_route(
    router,
    "/api/items/{item_id:int}/attention",
    "image/png",
    "PNG: the CBAM spatial attention map of the item blended over its image",
)
def attention(item_id: int, state: WebState = Depends(get_state)):
    return image_response(state.service.item_attention_png(item_id), "image/png")


@router.get(
    "/api/items/{item_id:int}/match",
    responses=ERROR_RESPONSES,
    summary="Where is the match: occlusion map over the item of what makes it similar to the query item",
)
def match(
    item_id: int,
    query_id: int = Query(..., ge=0, description="Id of the query item"),
    grid: int = Query(DEFAULT_GRID, ge=1, le=16, description="Cells per side (grid^2 + 1 model passes)"),
    state: WebState = Depends(get_state),
):
    return state.service.match(item_id, query_id, grid)


@image_route(
    router, "/api/items/{item_id:int}/image", "image/*", "The full image (as stored, or PNG for other formats)"
)
def image(item_id: int, state: WebState = Depends(get_state)):
    data, media_type = state.service.images.image_file(item_id)
    return image_response(data, media_type)
