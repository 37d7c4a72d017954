"""ASGI middleware that answers requests for other host names with HTTP 400 (DNS rebinding).

A web page on ``evil.example`` can make its own name resolve to 127.0.0.1 and then read
the local server's answers from the browser, because the browser considers the server
part of ``evil.example``. Such requests still carry ``Host: evil.example``; refusing every
``Host`` that is not one of the server's own names closes that door.

Accepted: the loopback names (``localhost``, ``127.0.0.1``, ``[::1]``), the names given to
``mlrsir serve --allow-host``, and the bound address when serving on another interface;
each with or without a port, compared case-insensitively.
"""

from __future__ import annotations

import json

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(header: str) -> str:
    """Host name of a ``Host`` header value without its port, lower case (``[::1]:80`` -> ``::1``)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def allowed_host_names(extra=()) -> frozenset[str]:
    """The loopback names plus ``extra`` (names or addresses, brackets and ports ignored)."""
    return frozenset(LOOPBACK_NAMES) | {host_name(str(name)) for name in extra if str(name).strip()}


class HostCheckMiddleware:
    """Answer 400 to HTTP requests whose ``Host`` header is not an allowed name.

    Args:
        app: the wrapped ASGI application.
        allowed: host names accepted (without ports), e.g. from :func:`allowed_host_names`.
    """

    def __init__(self, app, allowed):
        self.app = app
        self.allowed = frozenset(host_name(name) for name in allowed)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"host", b"").decode("latin-1")
        if host_name(raw) in self.allowed:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {
                "detail": f"Host header {raw[:100]!r} is not a name of this server; "
                "start `mlrsir serve` with --allow-host NAME to accept it"
            }
        ).encode()
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
