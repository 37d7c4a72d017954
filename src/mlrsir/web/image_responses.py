"""Routes that answer with an image (JPEG / PNG bytes): their OpenAPI description and
their response, written once.

Images of indexed items and scenes never change while the index is served, so they are
cacheable for an hour; images of an upload are not cached (``no-store``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from mlrsir.web.schemas import ERROR_RESPONSES

CACHE_HEADERS = {"Cache-Control": "public, max-age=3600"}
NO_STORE_HEADERS = {"Cache-Control": "no-store"}


def image_responses(media_type: str, extra: dict[int, dict[str, Any]] | None = None) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of an image route: the JSON errors, ``200`` as ``media_type``
    (e.g. ``"image/png"``, ``"image/*"``) and the ``extra`` status codes."""
    return {**dict(ERROR_RESPONSES.items()), 200: {"content": {media_type: {}}}, **(extra or {})}


def image_response(data: bytes, media_type: str, *, cacheable: bool = True) -> Response:
    """``data`` as ``media_type``, cacheable for an hour (indexed content) or ``no-store``."""
    return Response(data, media_type=media_type, headers=CACHE_HEADERS if cacheable else NO_STORE_HEADERS)


def image_route(router: APIRouter, path: str, media_type: str, summary: str, method: str = "get"):
    """``router.get(path, ...)`` (or ``post``) for a route answering ``media_type`` bytes,
    documented with :func:`image_responses`."""
    return router.api_route(
        path, methods=[method.upper()], responses=image_responses(media_type), response_class=Response, summary=summary
    )
