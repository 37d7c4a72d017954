"""``POST /api/search``: query by uploaded image (multipart field ``image``), by
``item_id`` of an indexed image (form field, JSON body or query parameter) or by a place
``at`` = ``[lon, lat]`` (JSON; ``"lon,lat"`` in a form or query string: the indexed scene
tile containing it), with ``k``, ``radius``, ``labels`` (repeatable), ``include_self``,
``attention``, ``bbox`` = ``[lon_min, lat_min, lon_max, lat_max]``, ``after`` / ``before``
(ISO dates or datetimes) and ``max_cloud`` (0..1; :class:`~mlrsir.web.schemas.SceneFilters`).

Uploads above the app's ``max_upload_bytes`` get 413, undecodable ones 400 with the
reason; they are decoded in memory (:func:`mlrsir.web.imaging.decode_upload`).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import parse_options_header

from mlrsir.data.images import ImageTooLargeError
from mlrsir.errors import DataError
from mlrsir.web import imaging
from mlrsir.web.attention import upload_key
from mlrsir.web.errors import error_response, validation_message
from mlrsir.web.image_responses import image_response, image_responses
from mlrsir.web.schemas import ERROR_RESPONSES, ErrorResponse, LikeTheseParams, SearchParams, SearchResponse
from mlrsir.web.state import WebState, get_state

SEARCH_OPENAPI = {
    "requestBody": {
        "description": "Either an uploaded image (multipart field `image`) or the `item_id` of an indexed "
        "image (form field or JSON). Options may also be given as query parameters.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "Query image file."},
                        "item_id": {"type": "integer"},
                        "k": {"type": "integer", "default": 24, "maximum": 500},
                        "radius": {"type": "integer"},
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "include_self": {"type": "boolean"},
                        "attention": {"type": "boolean"},
                        "at": {"type": "string", "description": "lon,lat"},
                        "bbox": {"type": "string", "description": "lon_min,lat_min,lon_max,lat_max"},
                        "after": {"type": "string", "description": "ISO date or datetime"},
                        "before": {"type": "string", "description": "ISO date or datetime"},
                        "max_cloud": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/SearchParams"}},
        },
    },
    "parameters": [
        {"name": "k", "in": "query", "schema": {"type": "integer", "default": 24, "minimum": 1, "maximum": 500}},
        {"name": "radius", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        {
            "name": "labels",
            "in": "query",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
            "description": "Label filter (repeatable): results carry all.",
        },
        {"name": "item_id", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ],
}
"""OpenAPI description of the request (the route reads the request itself)."""

router = APIRouter()


@router.post(
    "/api/like-these",
    responses=ERROR_RESPONSES,
    summary="Find all like these: rank the whole index by a classifier fitted to items marked ✓ and ✗",
)
async def like_these(params: LikeTheseParams, state: WebState = Depends(get_state)):
    return await run_in_threadpool(state.service.like_these, params)


@router.post(
    "/api/search",
    response_model=SearchResponse,
    openapi_extra=SEARCH_OPENAPI,
    responses={
        **ERROR_RESPONSES,
        413: {"model": ErrorResponse, "description": "Upload too large."},
    },
    summary="Retrieve the nearest indexed images in Hamming space",
)
async def search(request: Request, state: WebState = Depends(get_state)):
    t0 = time.perf_counter()
    values, upload = await read_search_request(request)
    try:
        params = SearchParams.model_validate(values)
    except ValidationError as exc:
        return error_response(422, validation_message(exc.errors()))
    if upload is not None and params.item_id is not None:
        return error_response(400, "send either an image file or an item_id, not both")
    service = state.service
    if params.at is not None:
        if upload is not None or params.item_id is not None:
            return error_response(400, "send one query: an image file, an item_id or a point 'at' [lon, lat]")
        return await run_in_threadpool(service.search_at, params)
    if upload is None:
        if params.item_id is None:
            return error_response(
                400, "send an image file (multipart field 'image') or the item_id of an indexed image"
            )
        return await run_in_threadpool(service.search_item, params)
    data = await read_upload_bytes(state, upload)
    image = await run_in_threadpool(decode_upload, state, data, upload.filename)
    decode_ms = (time.perf_counter() - t0) * 1000
    try:
        name = upload.filename or "upload"
        return await run_in_threadpool(service.search_upload, image, name, params, decode_ms, upload_key(data))
    finally:
        image.close()
        del image
        await upload.close()
        # the decode and the query's model pass freed tens of MB in this worker thread's
        # malloc arena; hand them back to the OS so the server returns to its warm level
        await run_in_threadpool(imaging.release_memory)


@router.post(
    "/api/attention",
    response_class=Response,
    responses=image_responses("image/png", {413: {"model": ErrorResponse, "description": "Upload too large."}}),
    summary="PNG: the CBAM spatial attention map of an uploaded image (multipart field `image`) over it",
)
async def attention(request: Request, state: WebState = Depends(get_state)):
    _values, upload = await read_search_request(request)
    if upload is None:
        return error_response(400, "send an image file (multipart field 'image')")
    data = await read_upload_bytes(state, upload)
    # cached per upload (SHA-256 of the bytes); the search of the same bytes kept its gate;
    # decoding and rendering run in the thread pool, only when not cached
    png = await run_in_threadpool(
        state.service.upload_attention_png, upload_key(data), lambda: decode_upload(state, data, upload.filename)
    )
    return image_response(png, "image/png", cacheable=False)


async def read_upload_bytes(state: WebState, upload: UploadFile) -> bytes:
    """The upload's bytes, at most the server's limit (ImageTooLargeError, 413, beyond it)."""
    limit = state.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ImageTooLargeError(f"{upload.filename or 'upload'}: file too large, the limit is {limit} bytes")
    return data


def decode_upload(state: WebState, data: bytes, filename: str | None):
    """The upload as an RGB image (TIFF rasters with the index's radiometry, as the CLI reads them)."""
    return state.decoder(data, filename, state.service.stored_radiometry())


async def read_search_request(request: Request) -> tuple[dict, UploadFile | None]:
    """Merge query parameters and the body (form or JSON) into one dict; return the upload if any."""
    values: dict = {}
    labels: list[str] = list(request.query_params.getlist("labels"))
    for key, value in request.query_params.multi_items():
        if key != "labels" and value != "":
            values[key] = value
    upload = None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise DataError("request body: not valid JSON") from None
        except RecursionError:
            raise DataError("request body: JSON nested too deeply") from None
        if not isinstance(body, dict):
            raise DataError("request body: expected a JSON object")
        extra = body.pop("labels", None)
        if isinstance(extra, str):
            labels.append(extra)
        elif isinstance(extra, list):
            labels += extra
        elif extra is not None:
            labels = extra  # not a list: SearchParams answers 422 naming `labels`
        values.update({k: v for k, v in body.items() if v is not None and v != ""})
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        if content_type.startswith("multipart/form-data"):
            check_multipart_complete(await request.body(), content_type)
        form = await request.form()
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "image":
                    raise DataError(f"form field {key!r}: unexpected file, send the query image as 'image'")
                upload = value
            elif key == "labels":
                labels.append(value)
            elif value != "":
                values[key] = value
    if isinstance(labels, list) and all(isinstance(label, str) for label in labels):
        labels = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    values["labels"] = labels  # anything else is refused by SearchParams (422)
    return values, upload


def check_multipart_complete(body: bytes, content_type: str) -> None:
    """Refuse a multipart body that does not end with its closing boundary (truncated upload).

    Without this check the parser returns whatever parts it saw, and a request cut off
    inside the image part would be answered as if no image had been sent.
    """

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise DataError("malformed request: multipart/form-data without a boundary")
    if not body.rstrip(b"\r\n").endswith(b"--" + boundary + b"--"):
        raise DataError("malformed request: the multipart body is truncated (no closing boundary)")
