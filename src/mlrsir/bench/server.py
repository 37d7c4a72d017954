"""HTTP helpers of the benchmarks that talk to ``mlrsir serve`` (load, upload memory, index store).

Plain :mod:`http.client` on purpose: the figures measure the server, not a client library.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlrsir.errors import ConfigError
from mlrsir.localhost import free_port


def connect(url: str, timeout: float) -> http.client.HTTPConnection:
    """An (unopened) connection to the host and port of ``url`` (``http://HOST:PORT``)."""
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)


def http_get(url: str, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """``GET url+path``: ``(status, body)``; OSError when the server does not answer."""
    conn = connect(url, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def post_json(url: str, path: str, body: dict, timeout: float = 10.0) -> tuple[int, dict]:
    """``POST url+path`` with a JSON body: ``(status, decoded JSON answer)``."""
    conn = connect(url, timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def wait_for_health(url: str, timeout: float, proc=None) -> dict:
    """Poll ``/api/health`` until it answers 200 and return its JSON (ConfigError on timeout
    or when ``proc``, the server's :class:`subprocess.Popen`, exits first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ConfigError(f"the server exited with status {proc.returncode} before answering {url}")
        try:
            status, body = http_get(url, "/api/health", timeout=2.0)
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.2)
    raise ConfigError(f"{url}: no answer from /api/health within {timeout:.0f} s")


def judged(report: dict, problems: list[str]) -> dict:
    """``report`` (updated in place and returned) with its ``problems`` (what missed a
    target) and ``passed`` (none did)."""
    report.update(problems=problems, passed=not problems)
    return report


def add_served_index_options(parser, *, url: bool = False) -> None:
    """The options of a benchmark against ``mlrsir serve``: ``--index`` (the benchmark starts
    the server on loopback), ``--url`` (with ``url``: an already running server instead),
    ``--run-dir``, ``--server-src`` (an older checkout to compare with), ``--start-timeout``
    and ``--json``."""
    index_help = "index to serve (starts `mlrsir serve` on loopback)"
    parser.add_argument("--index", type=Path, required=not url, help=index_help)
    if url:
        parser.add_argument("--url", help="base URL of an already running server instead of --index")
    parser.add_argument("--run-dir", type=Path, help="passed to `mlrsir serve --run-dir`")
    parser.add_argument(
        "--server-src", help="run the server from this source folder (PYTHONPATH), e.g. an older checkout"
    )
    parser.add_argument("--start-timeout", type=float, default=180.0, help="seconds to wait for the server to start")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def served_index(args, runtime: str | None = None) -> tuple[Callable[[int], list[str]], dict[str, str]]:
    """``(port -> argv, environment)`` of the server a benchmark starts for the options of
    :func:`add_served_index_options`; ConfigError when ``--index`` is not an index folder."""
    if not Path(args.index).is_dir():
        raise ConfigError(f"--index {args.index}: index directory not found")
    env = dict(os.environ)
    if args.server_src:
        env["PYTHONPATH"] = str(Path(args.server_src).resolve())
    return serve_command(args.index, args.run_dir, runtime), env


def serve_command(
    index: str | Path, run_dir: str | Path | None = None, runtime: str | None = None
) -> Callable[[int], list[str]]:
    """``port -> argv`` of ``mlrsir serve`` on loopback for ``index`` (log level warning)."""

    def command(port: int) -> list[str]:
        argv = [sys.executable, "-m", "mlrsir.cli.main", "serve", "--index", str(index), "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--log-level", "warning"]
        argv += ["--run-dir", str(run_dir)] if run_dir is not None else []
        return argv + (["--runtime", runtime] if runtime else [])

    return command


@dataclass(frozen=True)
class RunningServer:
    """A server process started by :func:`started_server`."""

    url: str  # http://127.0.0.1:PORT
    port: int
    process: subprocess.Popen


@contextmanager
def started_server(command: Callable[[int], list[str]], timeout: float, **popen) -> Iterator[RunningServer]:
    """Start ``command(port)`` on a free loopback port, wait for ``/api/health`` (at most
    ``timeout`` s), yield it (:class:`RunningServer`); the process is stopped on leaving (terminate,
    then kill after 30 s). ``popen``: keyword arguments of :class:`subprocess.Popen`."""
    port = free_port()
    popen.setdefault("stdout", subprocess.DEVNULL)
    proc = subprocess.Popen(command(port), **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(url, timeout, proc)
        yield RunningServer(url, port, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def multipart_body(field: str, filename: str, data: bytes, extra: dict) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body: the text fields ``extra`` then the JPEG ``data`` as
    file ``filename`` of ``field``; returns ``(body, content_type)``."""
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in extra.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: image/jpeg\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
