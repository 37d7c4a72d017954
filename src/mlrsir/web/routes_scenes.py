"""Routes of the indexed satellite scenes: ``GET /api/scenes`` (GeoJSON footprints),
``/api/scenes/{scene_id}/quicklook.png`` (quick-look) and
``/api/scenes/{scene_id}/tiles/{z}/{x}/{y}.png`` (Web Mercator map tiles,
:mod:`mlrsir.web.map_tiles`; z in 0..24, x and y in 0..2**z - 1, else 422/400).

The scene is addressed by its URL-safe id ``NAME-HASH8`` (:func:`mlrsir.geo.archive.scene_key`,
unique per scene source; a bare scene name is still accepted while it names one scene), never
by a path from the request; the PNG (longest side <= 1024 px) is rendered from the raster with the index's
radiometry, using the files' overviews when present (else a decimated read), and cached
in memory. Footprints are drawn over it by the page from each result's ``geo.window`` and
``scene.width``/``scene.height``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlrsir.web.image_responses import image_response, image_route
from mlrsir.web.map_tiles import MAX_ZOOM
from mlrsir.web.schemas import ERROR_RESPONSES
from mlrsir.web.state import WebState, get_state

router = APIRouter()


@image_route(router, "/api/scenes/{scene_id}/quicklook.png", "image/png", "PNG quick-look of an indexed scene")
async def quicklook(scene_id: str, state: WebState = Depends(get_state)):
    data = await run_in_threadpool(state.service.scenes.quicklook, scene_id)
    return image_response(data, "image/png")


@router.get(
    "/api/scenes",
    responses={**dict(ERROR_RESPONSES.items()), 200: {"content": {"application/geo+json": {}}}},
    summary="The indexed scenes as a GeoJSON FeatureCollection of footprints",
)
async def scenes(state: WebState = Depends(get_state)):
    body = await run_in_threadpool(state.service.scenes.feature_collection)
    return JSONResponse(body, media_type="application/geo+json")


@image_route(
    router,
    "/api/scenes/{scene_id}/tiles/{z}/{x}/{y}.png",
    "image/png",
    "PNG Web Mercator XYZ tile (256 px) of an indexed scene, transparent outside it",
)
async def map_tile(
    scene_id: str,
    z: int = Path(ge=0, le=MAX_ZOOM),
    x: int = Path(ge=0),
    y: int = Path(ge=0),
    state: WebState = Depends(get_state),
):
    data = await run_in_threadpool(state.service.scenes.map_tile, scene_id, z, x, y)
    return image_response(data, "image/png")
