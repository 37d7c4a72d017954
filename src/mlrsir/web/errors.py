"""The one error shape of the web API, ``{"detail": str}``, and the handlers that produce it.

Every refusal (bad parameter, unknown label, unreadable upload, missing item, busy server)
is answered as :class:`~mlrsir.web.schemas.ErrorResponse`. Messages never echo a client's
input in full: :func:`clip` shortens quoted values, :func:`validation_message` lists at most
:data:`MAX_LISTED_PROBLEMS` problems without their input, and :func:`error_response` caps any
message at :data:`MAX_DETAIL_CHARS`, so a 7.9 MB body of ids cannot get a multi-MB reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

MAX_DETAIL_CHARS = 2000
"""Longest error message sent to a client (longer ones are cut with ``...``)."""

MAX_LISTED_PROBLEMS = 5
"""Validation problems named in one message; the rest are counted."""

CLIP_CHARS = 60
"""Longest client-given value quoted inside a message."""


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (``...`` and the full length after a cut)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(str(value))} characters)"


def error_response(status: int, message: str) -> JSONResponse:
    """The body of every API error: ``{"detail": message}`` (message cut to :data:`MAX_DETAIL_CHARS`)."""
    text = str(message)
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 3] + "..."
    return JSONResponse(status_code=status, content={"detail": text})


def validation_message(errors: Iterable[Mapping[str, Any]]) -> str:
    """``"loc: msg; loc: msg"`` of pydantic errors, without the rejected input, at most
    :data:`MAX_LISTED_PROBLEMS` of them (``"... and N more"``)."""
    problems = []
    total = 0
    for error in errors:
        total += 1
        if len(problems) < MAX_LISTED_PROBLEMS:
            loc = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
            problems.append(f"{loc}: {error.get('msg', 'invalid value')}")
    if total > len(problems):
        problems.append(f"... and {total - len(problems)} more")
    return "; ".join(problems) or "invalid request"


async def request_validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    """422 for a request FastAPI could not validate, in the one error shape."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return error_response(422, validation_message(errors))


def status_handler(status: int):
    """Exception handler answering ``status`` with the exception's message."""

    async def handler(_request: Request, exc: Exception) -> JSONResponse:
        return error_response(status, str(exc))

    return handler
