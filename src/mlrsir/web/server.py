"""Run the web app under uvicorn so that slow or idle clients cannot lock everyone out.

uvicorn (0.55, h11) closes idle keep-alive connections (``timeout_keep_alive``) but sets no
deadline for a request's head: a client that connects and sends one byte holds its socket
and file descriptor forever, and a few hundred of them exhaust the descriptor limit, after
which every accept fails (``EMFILE``) and the log fills with one traceback per attempt.
:func:`serve` adds, in :class:`GuardedH11Protocol`:

- a **head deadline**: a request's head (request line and headers) must be complete
  within :data:`HEADER_TIMEOUT_S` seconds of the connection (or of the first byte after a
  keep-alive pause), however slowly it trickles in; else the connection is closed;
- a **body idle timeout**: while a request body is being received, a pause longer than
  :data:`BODY_IDLE_TIMEOUT_S` closes the connection;
- a **connection cap** below the descriptor limit (:func:`connection_cap`): when it is
  reached, the connection that has waited longest for a request head (or sits idle between
  requests) is closed to make room, so a new client still gets served while slow sockets
  keep coming; connections whose request is being handled are never closed for this, and
  a newcomer is refused only when every slot holds such a request;
- **accept errors logged once**: ``EMFILE``/``ENFILE``/``ENOBUFS``/``ENOMEM`` from
  ``accept()`` (descriptors taken by something else) give one log line per
  :data:`ACCEPT_ERROR_LOG_EVERY_S` seconds with a count, not a traceback each.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import time
from collections import OrderedDict
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
"""Seconds a client has to send a complete request head."""

BODY_IDLE_TIMEOUT_S = 30.0
"""Longest pause while a request body is being received."""

KEEP_ALIVE_S = 5
"""Idle seconds between two requests on one connection (uvicorn's ``timeout_keep_alive``)."""

ACCEPT_BACKLOG = 64
"""How many connections asyncio accepts in one go (uvicorn's ``backlog``): sockets of up to
about three such batches are open before the cap closes the excess."""

LISTEN_BACKLOG = 2048
"""The kernel's queue of connections not yet accepted (set again once the server listens, so
a flood of connects is queued, not dropped, while asyncio accepts in small batches)."""

DESCRIPTOR_HEADROOM = 64 + 4 * ACCEPT_BACKLOG
"""File descriptors kept free besides those open at start: files the server opens later
(index, model, images, logs) and the accept batches in flight (:data:`ACCEPT_BACKLOG`)."""

MAX_CONNECTIONS = 1000
"""Upper bound of the connection cap, whatever the descriptor limit."""

ACCEPT_ERROR_LOG_EVERY_S = 60.0
"""At most one log line about failing accepts per this many seconds."""

ACCEPT_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}

log = logging.getLogger("mlrsir.web.server")


def open_descriptors() -> int:
    """File descriptors open in this process now (``/proc/self/fd``; 0 where unavailable)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def connection_cap(requested: int | None = None) -> int:
    """Connections served at once: ``requested``, else ``min(MAX_CONNECTIONS, soft descriptor
    limit - descriptors open now - DESCRIPTOR_HEADROOM)``, at least 8. A requested cap above
    what the descriptor limit allows is lowered to it."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else soft - open_descriptors() - DESCRIPTOR_HEADROOM
    allowed = max(8, min(MAX_CONNECTIONS, room))
    return max(1, min(int(requested), allowed)) if requested else allowed


class ConnectionGuard:
    """State shared by the connections of one server: the cap, the timeouts, and the
    connections that wait for a request head or sit idle (oldest first, the ones closed
    to make room)."""

    def __init__(self, max_connections: int, header_timeout_s: float, body_idle_timeout_s: float):
        self.max_connections = int(max_connections)
        self.header_timeout_s = float(header_timeout_s)
        self.body_idle_timeout_s = float(body_idle_timeout_s)
        self.waiting: OrderedDict[GuardedH11Protocol, None] = OrderedDict()
        self.open = 0
        self.evicted = 0
        self.timed_out = 0
        self.refused = 0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the head deadline, body idle timeout and cap of the module doc."""

    guard: ConnectionGuard  # set on the subclass made by :func:`protocol_class`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._read_timer: asyncio.TimerHandle | None = None
        guard = self.guard
        guard.open += 1
        if guard.open > guard.max_connections:
            victim = next(iter(guard.waiting), None)
            if victim is None:  # every slot holds a request being handled
                guard.refused += 1
                self._close()
                return
            guard.evicted += 1
            victim._close()
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        self.guard.open -= 1
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE:  # (part of) a request head: the deadline runs from its first byte
            if self._read_timer is None:
                self._await_head()
        elif state is h11.SEND_BODY:  # a body: each chunk restarts the idle timer
            self.guard.waiting.pop(self, None)
            self._arm(self.guard.body_idle_timeout_s)
        else:
            self._forget()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        idle = self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)
        if idle and not self.transport.is_closing():  # waiting for the next request: may make room
            self._cancel_timer()
            self.guard.waiting[self] = None

    # ------------------------------------------------------------------ helpers
    def _await_head(self) -> None:
        self.guard.waiting[self] = None
        self._arm(self.guard.header_timeout_s)

    def _arm(self, seconds: float) -> None:
        self._cancel_timer()
        self._read_timer = self.loop.call_later(seconds, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _forget(self) -> None:
        self._cancel_timer()
        self.guard.waiting.pop(self, None)

    def _timed_out(self) -> None:
        self._read_timer = None
        self.guard.timed_out += 1
        self._close()

    def _close(self) -> None:
        self._forget()
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(guard: ConnectionGuard) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass bound to ``guard`` (uvicorn builds one protocol per connection)."""
    return type("BoundGuardedH11Protocol", (GuardedH11Protocol,), {"guard": guard})


class AcceptErrorLog:
    """Event-loop exception handler: accept errors (:data:`ACCEPT_ERRNOS`) are counted and
    logged at most once per ``every_s`` seconds; anything else goes to the default handler."""

    def __init__(self, every_s: float = ACCEPT_ERROR_LOG_EVERY_S, logger: logging.Logger = log):
        self.every_s = float(every_s)
        self.logger = logger
        self.count = 0
        self._unlogged = 0
        self._last = float("-inf")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in ACCEPT_ERRNOS):
            loop.default_exception_handler(context)
            return
        self.count += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self.logger.warning(
                "cannot accept connections: %s (%d time(s) since the last note; new connections wait)",
                os.strerror(exc.errno or 0),
                self._unlogged,
            )
            self._last = now
            self._unlogged = 0


def widen_listen_backlog(fileno: int, backlog: int = LISTEN_BACKLOG) -> None:
    """``listen(backlog)`` again on a listening socket (through a duplicate of its descriptor)."""

    dup = socket.socket(fileno=os.dup(fileno))
    try:
        dup.listen(backlog)
    finally:
        dup.close()


def serve(
    app,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    max_connections: int | None = None,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    body_idle_timeout_s: float = BODY_IDLE_TIMEOUT_S,
) -> None:
    """Serve ``app`` on ``host:port`` until interrupted, with the protections of the module doc."""

    guard = ConnectionGuard(connection_cap(max_connections), header_timeout_s, body_idle_timeout_s)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol_class(guard),
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=ACCEPT_BACKLOG,
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    handler = AcceptErrorLog()

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(handler)
        serving = asyncio.ensure_future(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        for listener in getattr(server, "servers", []):
            for sock in listener.sockets:
                widen_listen_backlog(sock.fileno())
        await serving

    asyncio.run(run())
