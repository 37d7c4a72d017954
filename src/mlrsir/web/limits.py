"""ASGI middleware that refuses request bodies above a size limit with HTTP 413.

The limit is checked twice: against the ``Content-Length`` header before anything is
read, and against the bytes actually received (chunked uploads), so an oversized
upload is never buffered or spooled in full.
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Raised inside ``receive`` once more than the allowed bytes arrived."""


class BodySizeLimitMiddleware:
    """Answer 413 when a request body exceeds ``max_body_bytes``.

    Args:
        app: the wrapped ASGI application.
        max_body_bytes: largest accepted body in bytes.
    """

    def __init__(self, app, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = int(max_body_bytes)

    async def _reject(self, send) -> None:
        body = json.dumps(
            {
                "detail": f"request body too large: the limit is {self.max_body_bytes} bytes "
                f"({self.max_body_bytes / 2**20:.1f} MiB)"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_body_bytes:
                    await self._reject(send)
                    return
            except ValueError:
                pass
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(send)
