"""FastAPI application of ``mlrsir serve``: a retrieval API over a code index and a web page.

Routes (all JSON unless stated; the OpenAPI schema is at ``/openapi.json``):

- ``GET /`` the page (static HTML/CSS/JS from ``web/static``, no external resources);
- ``POST /api/search`` query by uploaded image (multipart field ``image``) or by
  ``item_id`` of an indexed image (form field, JSON body or query parameter), with
  ``k``, ``radius``, ``labels`` (repeatable), ``include_self``, ``attention``;
- ``GET /api/items/{id}``, ``/api/items/{id}/thumbnail`` (JPEG <= 256 px, LRU-cached),
  ``/api/items/{id}/image``; ``GET /api/random``, ``/api/health``, ``/api/labels``.

Items are addressed by integer id only (the route only matches ``[0-9]+``), so paths
such as ``../`` or ``%2e%2e%2f`` match no route and get 404; file paths come from the
index, never from a request. Uploads above ``max_upload_bytes`` get 413, undecodable
ones 400 with the reason; they are decoded in memory.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mlrsir import __version__
from mlrsir.errors import ConfigError, DataError, IndexError_
from mlrsir.web import imaging
from mlrsir.web.limits import BodySizeLimitMiddleware
from mlrsir.web.schemas import (
    ErrorResponse,
    HealthResponse,
    ItemResponse,
    LabelsResponse,
    RandomResponse,
    SearchParams,
    SearchResponse,
)
from mlrsir.web.service import ItemNotFound, RetrievalService

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for multipart headers and the small form fields beside the image."""

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
                           "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'")


def _open_index(index_path: Path):
    from mlrsir.index.store import CodeIndex

    return CodeIndex.open(index_path, readonly=True)


def _load_encoder(run_dir: Path):
    from mlrsir.training.encoder import load_encoder

    return load_encoder(run_dir)


def _normalised(fingerprint: dict | None) -> dict:
    return json.loads(json.dumps(fingerprint or {}, sort_keys=True, default=str))


def check_compatible(index, encoder, index_path: Path) -> None:
    """Refuse an encoder that does not produce the codes stored in the index.

    Raises:
        ConfigError: the run uses asymmetric quantizer distances (DQN/DTQ).
        IndexError_: code lengths or model fingerprints differ.
    """
    if getattr(encoder, "retrieval", "hamming") != "hamming":
        raise ConfigError(f"run {getattr(encoder, 'run_dir', '?')} uses asymmetric quantizer distance "
                          f"({encoder.retrieval}); the index stores binary codes. Use `mlrsir evaluate` for it.")
    if int(encoder.bits) != int(index.bits):
        raise IndexError_(f"{index_path}: the index stores {index.bits}-bit codes but the encoder makes "
                          f"{encoder.bits}-bit codes")
    expected, found = _normalised(index.fingerprint), _normalised(encoder.fingerprint)
    if expected and found and expected != found:
        diff = sorted(k for k in set(expected) | set(found) if expected.get(k) != found.get(k))
        raise IndexError_(f"{index_path}: the index was built by another model than the encoder in "
                          f"{getattr(encoder, 'run_dir', '?')} (fingerprint differs in: {', '.join(diff)}); "
                          f"rebuild the index with `mlrsir index build`")


def _archive_root(index, index_path: Path) -> Path | None:
    """Folder that relative item paths are stored against (from ``index.info()`` when given)."""
    try:
        info = index.info() or {}
    except Exception:
        info = {}
    for key in ("images_root", "archive_root", "root"):
        if info.get(key):
            return Path(info[key])
    return Path(index_path)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message})


ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "Invalid request or upload (the message says why)."},
    404: {"model": ErrorResponse, "description": "No indexed item with this id."},
}


def create_app(index_path, *, encoder=None, index=None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               run_dir=None, archive_root=None) -> FastAPI:
    """Build the web application.

    Args:
        index_path: directory of a ``CodeIndex``; opened read-only unless ``index`` is given.
        encoder: an ``Encoder``; loaded from ``run_dir`` (default: the index's ``run_dir``)
            when omitted, and checked against the index fingerprint.
        index: an already opened index (tests); the app then does not close it.
        max_upload_bytes: largest accepted upload; larger ones get HTTP 413.
        run_dir: override of the run directory recorded in the index.
        archive_root: folder that relative image paths in the index refer to.

    Raises:
        IndexError_, ConfigError: index missing/corrupt, no run directory, or encoder and
        index made by different models.
    """
    index_path = Path(index_path)
    runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlrsir-index")
    owns_index = index is None
    if owns_index:
        index = runner.submit(_open_index, index_path).result()
    if encoder is None:
        source = run_dir or index.run_dir
        if not source:
            raise ConfigError(f"{index_path}: the index records no run directory; pass --run-dir")
        encoder = _load_encoder(Path(source))
    check_compatible(index, encoder, index_path)
    service = RetrievalService(index, encoder, archive_root=archive_root or _archive_root(index, index_path),
                               index_runner=runner)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if owns_index:
            service.close()

    app = FastAPI(
        title="mlrsir retrieval",
        version=__version__,
        description="Multi-label remote-sensing image retrieval by deep hashing (MLRSIR-NET): query an "
                    "index of binary codes by image upload or by indexed item; results are ranked by "
                    "Hamming distance, ties by id.",
        docs_url=None,  # Swagger UI would load scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.max_upload_bytes = int(max_upload_bytes)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=int(max_upload_bytes) + MULTIPART_OVERHEAD_BYTES)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    @app.exception_handler(ItemNotFound)
    async def _not_found(_request, exc: ItemNotFound):
        return _error(404, str(exc))

    @app.exception_handler(DataError)
    async def _bad_data(_request, exc: DataError):
        return _error(400, str(exc))

    @app.exception_handler(ConfigError)
    async def _bad_config(_request, exc: ConfigError):
        return _error(400, str(exc))

    # ------------------------------------------------------------------ page
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # ------------------------------------------------------------------ small endpoints
    @app.get("/api/health", response_model=HealthResponse, summary="Server and index status")
    def health():
        return {"status": "ok", "size": service.size(), "bits": service.bits, "fingerprint": service.fingerprint,
                "num_labels": len(service.classes), "version": __version__,
                "max_upload_bytes": app.state.max_upload_bytes}

    @app.get("/api/labels", response_model=LabelsResponse, summary="Label vocabulary with image counts")
    def labels():
        return {"labels": service.classes, "counts": service.label_counts()}

    @app.get("/api/random", response_model=RandomResponse, responses=ERROR_RESPONSES,
             summary="A random indexed image id")
    def random_item():
        return {"id": service.random_id()}

    @app.get("/api/items/{item_id:int}", response_model=ItemResponse, responses=ERROR_RESPONSES,
             summary="Metadata of an indexed image")
    def item(item_id: int):
        return service.item_json(service.record(item_id))

    @app.get("/api/items/{item_id:int}/thumbnail", responses={**ERROR_RESPONSES, 200: {"content": {"image/jpeg": {}}}},
             response_class=Response, summary="JPEG thumbnail (longest side <= 256 px)")
    def thumbnail(item_id: int):
        return Response(service.thumbnail(item_id), media_type="image/jpeg",
                        headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/api/items/{item_id:int}/image", responses={**ERROR_RESPONSES, 200: {"content": {"image/*": {}}}},
             response_class=Response, summary="The full image (as stored, or PNG for other formats)")
    def image(item_id: int):
        data, media_type = service.image_file(item_id)
        return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"})

    # ------------------------------------------------------------------ search
    search_body = {
        "requestBody": {
            "description": "Either an uploaded image (multipart field `image`) or the `item_id` of an indexed "
                           "image (form field or JSON). Options may also be given as query parameters.",
            "content": {
                "multipart/form-data": {"schema": {
                    "type": "object",
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "Query image file."},
                        "item_id": {"type": "integer"}, "k": {"type": "integer", "default": 24, "maximum": 500},
                        "radius": {"type": "integer"}, "labels": {"type": "array", "items": {"type": "string"}},
                        "include_self": {"type": "boolean"}, "attention": {"type": "boolean"},
                    }}},
                "application/json": {"schema": {"$ref": "#/components/schemas/SearchParams"}},
            },
        },
        "parameters": [
            {"name": "k", "in": "query", "schema": {"type": "integer", "default": 24, "minimum": 1, "maximum": 500}},
            {"name": "radius", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            {"name": "labels", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
             "style": "form", "explode": True, "description": "Label filter (repeatable): results carry all."},
            {"name": "item_id", "in": "query", "schema": {"type": "integer", "minimum": 0}},
        ],
    }

    @app.post("/api/search", response_model=SearchResponse, openapi_extra=search_body,
              responses={**ERROR_RESPONSES, 413: {"model": ErrorResponse, "description": "Upload too large."},
                         422: {"model": ErrorResponse, "description": "Invalid parameter value."}},
              summary="Retrieve the nearest indexed images in Hamming space")
    async def search(request: Request):
        t0 = time.perf_counter()
        values, upload = await _read_search_request(request)
        try:
            params = SearchParams.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            return _error(422, problems)
        if upload is not None and params.item_id is not None:
            return _error(400, "send either an image file or an item_id, not both")
        if upload is None:
            if params.item_id is None:
                return _error(400, "send an image file (multipart field 'image') or the item_id of an indexed image")
            return await run_in_threadpool(service.search_item, params)
        data = await upload.read(app.state.max_upload_bytes + 1)
        if len(data) > app.state.max_upload_bytes:
            return _error(413, f"{upload.filename or 'upload'}: file too large, the limit is "
                               f"{app.state.max_upload_bytes} bytes")
        image = await run_in_threadpool(imaging.decode_upload, data, upload.filename)
        decode_ms = (time.perf_counter() - t0) * 1000
        return await run_in_threadpool(service.search_upload, image, upload.filename or "upload", params, decode_ms)

    return app


async def _read_search_request(request: Request) -> tuple[dict, UploadFile | None]:
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
        if not isinstance(body, dict):
            raise DataError("request body: expected a JSON object")
        extra = body.pop("labels", [])
        labels += [extra] if isinstance(extra, str) else list(extra or [])
        values.update({k: v for k, v in body.items() if v is not None and v != ""})
    elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
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
    values["labels"] = list(dict.fromkeys(label.strip() for label in labels if label.strip()))
    return values, upload
