"""A loopback HTTP server of one folder with byte ranges (``Range: bytes=a-b``), counting bytes sent
(the remote-raster tests and ``mlrsir bench remote``).

Python's ``http.server`` ignores ``Range``; GDAL's ``/vsicurl/`` needs it to read a COG in place.
:class:`RangeServer` serves ``GET``/``HEAD`` of the files under ``root`` on 127.0.0.1 (a free
port), answers one range with 206 (several ranges: each sent as its own 206 is not supported,
the first range is sent), a missing file with 404, a path listed in ``forbidden`` with 403,
and waits ``stall[name]`` seconds before answering a request for ``name`` (a stalled server).
``bytes_sent`` counts body bytes, ``requests`` the requests (both reset by :meth:`reset`);
``by_name`` counts the requests (HEAD included) per file name.

Fault modes (for the network fault tests):

* :meth:`fail_next` ``(name, count, status=503, after=0)``: after ``after`` more GETs of
  ``name``, the next ``count`` answer ``status`` (a burst of 503, or 500/429);
* ``truncate[name] = n``: the file is served as if only its first ``n`` bytes existed (a
  truncated upload: the TIFF header promises blocks the server does not have);
* ``latency = s``: every request waits ``s`` seconds before its answer (a network round trip,
  so that concurrent readers can be measured on loopback);
* ``kill_after = k``: after ``k`` answered GETs the server dies (:meth:`kill`: later requests on
  open connections are dropped unanswered, new connections are refused); a new
  ``RangeServer(root, port=old.port)`` serves the same URLs again.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)")


class RangeServer:
    """``with RangeServer(folder) as server: server.url("scene.tif")`` (module doc)."""

    def __init__(
        self,
        root: Path,
        forbidden: tuple[str, ...] = (),
        stall: dict[str, float] | None = None,
        *,
        port: int = 0,
        kill_after: int | None = None,
        latency: float = 0.0,
    ):
        self.root = Path(root).resolve()
        self.forbidden = set(forbidden)
        self.stall = dict(stall or {})
        self.truncate: dict[str, int] = {}
        self.kill_after = kill_after
        self.latency = float(latency)
        self.dead = False
        self.bytes_sent = 0
        self.requests = 0
        self.gets = 0
        self.by_name: dict[str, int] = {}
        self.ranges: list[tuple[str, int, int]] = []
        self._failures: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._stopped = False
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def reset(self) -> None:
        with self._lock:
            self.bytes_sent = 0
            self.requests = 0
            self.by_name.clear()
            self.ranges.clear()

    def fail_next(self, name: str, count: int, status: int = 503, after: int = 0) -> None:
        """The next ``count`` GETs of ``name`` answer ``status``, once ``after`` more GETs of it
        were answered normally (module doc)."""
        with self._lock:
            self._failures.setdefault(name, []).extend([0] * int(after) + [int(status)] * int(count))

    def close_in_fork(self) -> None:
        """In a forked child: close the child's copy of the listening socket (else the socket
        stays open after the parent's server dies, and connections hang instead of being refused)."""
        self._httpd.socket.close()

    def kill(self) -> None:
        """Die now: open connections get no answer, new ones are refused (module doc)."""
        self.dead = True
        self._stop()

    def _stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> RangeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop()
        self._thread.join(timeout=10)

    def _count(self, name: str, start: int, length: int) -> None:
        with self._lock:
            self.bytes_sent += length
            self.requests += 1
            self.ranges.append((name, start, length))

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                name = unquote(urlparse(self.path).path).lstrip("/")
                with server._lock:
                    server.by_name[name] = server.by_name.get(name, 0) + 1
                    failures = server._failures.get(name) if body else None
                    status = (failures.pop(0) or None) if failures else None  # 0: a normal answer before a burst
                    if body and status is None:
                        server.gets += 1
                    dying = server.kill_after is not None and server.gets > server.kill_after
                if server.dead or dying:
                    if not server.dead:
                        server.dead = True
                        threading.Thread(target=server._stop, daemon=True).start()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)  # no answer: the client sees it drop
                    except OSError:
                        pass
                    return None
                if status is not None:
                    self.close_connection = True
                    return self._error(status, "Injected failure")
                if server.latency > 0:
                    time.sleep(server.latency)  # a network round trip
                if name in server.stall:
                    time.sleep(server.stall[name])
                target = (server.root / name).resolve()
                if name in server.forbidden:
                    return self._error(403, "Forbidden")
                if server.root not in target.parents or not target.is_file():
                    return self._error(404, "Not Found")
                size = min(target.stat().st_size, server.truncate.get(name, target.stat().st_size))
                start, stop, status = 0, size, 200
                match = _RANGE.match(self.headers.get("Range", ""))
                if match and (match.group(1) or match.group(2)):
                    if match.group(1):
                        start = int(match.group(1))
                        stop = min(size, int(match.group(2)) + 1) if match.group(2) else size
                    else:  # suffix range: the last N bytes
                        start = max(0, size - int(match.group(2)))
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(stop - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
                self.end_headers()
                if body:
                    with target.open("rb") as f:
                        f.seek(start)
                        self.wfile.write(f.read(stop - start))
                    server._count(name, start, stop - start)

            def _error(self, code: int, text: str) -> None:
                payload = f"{code} {text}\n".encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

        return Handler
