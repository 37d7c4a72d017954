"""FastAPI application of ``mlrsir serve``: a retrieval API over a code index and a web page.

Routes (all JSON unless stated; the OpenAPI schema is at ``/openapi.json``):

- ``GET /`` the page (static HTML/CSS/JS from ``web/static``, no external resources);
- ``POST /api/search`` query by uploaded image or by indexed item
  (:mod:`mlrsir.web.routes_search`);
- ``GET /api/items/{id}``, ``/api/items/{id}/thumbnail`` (JPEG <= 256 px, LRU-cached),
  ``/api/items/{id}/image``; ``GET /api/random``, ``/api/health``, ``/api/labels``
  (:mod:`mlrsir.web.routes_items`).
- ``GET /api/scenes`` (GeoJSON), ``/api/scenes/{id}/quicklook.png``,
  ``/api/scenes/{id}/tiles/{z}/{x}/{y}.png`` (:mod:`mlrsir.web.routes_scenes`).

Items are addressed by integer id only (the route only matches ``[0-9]+``), so paths
such as ``../`` or ``%2e%2e%2f`` match no route and get 404; file paths come from the
index, never from a request. Uploads above ``max_upload_bytes`` get 413, undecodable
ones 400 with the reason; they are decoded in memory.

This module assembles the application: it opens the index, loads and checks the
encoder (:func:`mlrsir.inference.fingerprint.check_encoder_compatible`), keeps the
:class:`~mlrsir.web.state.WebState` in ``app.state.web`` and adds the middleware, the
error handlers and the routers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from mlrsir import __version__
from mlrsir.data.images import ImageTooLargeError
from mlrsir.errors import ConfigError, DataError
from mlrsir.index.store import CodeIndex
from mlrsir.inference.encoder import load_encoder
from mlrsir.inference.fingerprint import check_encoder_compatible
from mlrsir.web import imaging, routes_items, routes_labels, routes_scenes, routes_search
from mlrsir.web.basemap import check_basemap, content_security_policy
from mlrsir.web.errors import request_validation_handler, status_handler
from mlrsir.web.hosts import HostCheckMiddleware, allowed_host_names
from mlrsir.web.limits import BodySizeLimitMiddleware
from mlrsir.web.service import ItemNotFound, RetrievalService
from mlrsir.web.state import WebState

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Room for multipart headers and the small form fields beside the image."""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

DESCRIPTION = (
    "Multi-label remote-sensing image retrieval by deep hashing (MLRSIR-NET): query an "
    "index of binary codes by image upload or by indexed item; results are ranked by "
    "Hamming distance, ties by id."
)


def _open_index(index_path: Path):
    """Read-only open: the cheap checks (header, sizes, counts) always, the full verification
    only for small indexes (``verify="auto"``); the codes are memory-mapped and no item row
    is read, so a 1e8-item index opens in well under a second (``mlrsir index info --verify``
    checks everything)."""

    return CodeIndex.open(index_path, readonly=True, verify="auto")


def _load_encoder(run_dir: Path, runtime: str = "auto", precision: str = "fp32"):

    return load_encoder(run_dir, runtime=runtime, precision=precision)


def _archive_root(index, index_path: Path) -> Path | None:
    """Folder that relative item paths are stored against (the index's ``images_root``, else
    from ``index.info()`` when given; the attribute first: ``info()`` counts rows)."""
    if getattr(index, "images_root", None):
        return Path(index.images_root)
    try:
        info = index.info() or {}
    except Exception:
        info = {}
    for key in ("images_root", "archive_root", "root"):
        if info.get(key):
            return Path(info[key])
    return Path(index_path)


def create_app(
    index_path,
    *,
    encoder=None,
    index=None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    run_dir=None,
    archive_root=None,
    allowed_hosts=(),
    max_image_pixels: int | None = None,
    max_concurrent_decodes: int | None = None,
    runtime: str = "auto",
    precision: str = "fp32",
    basemap: str | None = None,
) -> FastAPI:
    """Build the web application.

    Args:
        index_path: directory of a ``CodeIndex``; opened read-only unless ``index`` is given.
        encoder: an ``Encoder``; loaded from ``run_dir`` (default: the index's ``run_dir``)
            when omitted, and checked against the index fingerprint.
        index: an already opened index (tests); the app then does not close it.
        max_upload_bytes: largest accepted upload; larger ones get HTTP 413.
        run_dir: override of the run directory recorded in the index.
        archive_root: folder that relative image paths in the index refer to.
        allowed_hosts: host names accepted in the ``Host`` header besides the loopback
            names (``localhost``, ``127.0.0.1``, ``[::1]``); other hosts get 400
            (:mod:`mlrsir.web.hosts`, DNS rebinding). Tests using ``TestClient`` pass
            ``"testserver"`` or a loopback ``base_url``.
        max_image_pixels: largest decoded upload in pixels (default
            :data:`mlrsir.web.imaging.MAX_UPLOAD_PIXELS`); larger ones get 413.
        max_concurrent_decodes: uploads decoded at once (default
            :data:`mlrsir.web.imaging.MAX_CONCURRENT_DECODES`); more wait their turn.
        runtime, precision: of the encoder loaded from the run (``--runtime``, ``--precision``;
            :func:`mlrsir.inference.runtimes.resolve_runtime`).
        basemap: XYZ tile template the map view draws under the scenes (``--basemap``,
            :mod:`mlrsir.web.basemap`; its origin is added to the page's CSP); None: none.

    Raises:
        IndexStoreError, ConfigError: index missing/corrupt, no run directory, or encoder and
        index made by different models.
    """
    index_path = Path(index_path)
    basemap_origin = check_basemap(basemap) if basemap else None
    runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlrsir-index")
    owns_index = index is None
    if owns_index:
        index = runner.submit(_open_index, index_path).result()
    if encoder is None:
        source = run_dir or index.run_dir
        if not source:
            raise ConfigError(f"{index_path}: the index records no run directory; pass --run-dir")
        # tests replace _load_encoder by a one-argument stand-in: pass runtime only when chosen
        if runtime == "auto" and precision == "fp32":
            encoder = _load_encoder(Path(source))
        else:
            encoder = _load_encoder(Path(source), runtime, precision)
    check_encoder_compatible(encoder, index, where=index_path)
    service = RetrievalService(
        index, encoder, archive_root=archive_root or _archive_root(index, index_path), index_runner=runner
    )

    app = FastAPI(
        title="mlrsir retrieval",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # Swagger UI would load scripts from a CDN; the schema is at /openapi.json
        redoc_url=None,
        lifespan=_lifespan,
    )
    decoder = imaging.UploadDecoder(
        max_pixels=int(max_image_pixels or imaging.MAX_UPLOAD_PIXELS),
        max_concurrent=int(max_concurrent_decodes or imaging.MAX_CONCURRENT_DECODES),
    )
    app.state.web = WebState(
        service=service,
        max_upload_bytes=int(max_upload_bytes),
        owns_index=owns_index,
        decoder=decoder,
        basemap=basemap.strip() if basemap else None,
    )
    policy = content_security_policy(CONTENT_SECURITY_POLICY, basemap_origin)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=int(max_upload_bytes) + MULTIPART_OVERHEAD_BYTES)
    app.middleware("http")(_security_headers(policy))
    app.add_middleware(HostCheckMiddleware, allowed=allowed_host_names(allowed_hosts))
    app.add_exception_handler(ItemNotFound, status_handler(404))
    app.add_exception_handler(DataError, status_handler(400))
    app.add_exception_handler(ImageTooLargeError, status_handler(413))
    app.add_exception_handler(imaging.ServerBusy, status_handler(503))
    app.add_exception_handler(ConfigError, status_handler(400))
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_api_route("/", page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(routes_items.router)
    app.include_router(routes_search.router)
    app.include_router(routes_scenes.router)
    app.include_router(routes_labels.router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    state: WebState = app.state.web
    if state.owns_index:
        state.service.close()


def _security_headers(policy: str):
    """The middleware adding ``nosniff`` and the Content-Security-Policy ``policy``."""

    async def add_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", policy)
        return response

    return add_headers


async def page():
    """``GET /``: the single-page client."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
