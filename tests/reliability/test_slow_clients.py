"""Issue 24 item 9: slow clients must not lock everyone out of ``mlrsir serve``.

A real server process (the ``serve`` command with the fake encoder) runs on 127.0.0.1 with
its descriptor limit lowered to 256; 400 sockets connect and send one byte each, more than
the limit allows. ``/api/health`` must still answer while they stay open, the server must
close them itself (head deadline, lowered here to 2 s), and its log must stay small (no
traceback per failed accept).
"""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

from mlrsir.bench.server import http_get, wait_for_health
from tests.fakes.encoder import FakeEncoder
from tests.web.conftest import VOCAB, build_index, make_archive

REPO = Path(__file__).resolve().parents[2]
DESCRIPTOR_LIMIT = 256
SLOW_SOCKETS = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lower_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTOR_LIMIT, DESCRIPTOR_LIMIT))


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (BlockingIOError, TimeoutError):
        return False


def test_slow_sockets_beyond_the_descriptor_limit_do_not_block_health(tmp_path):
    encoder = FakeEncoder(run_dir=tmp_path / "run", classes=VOCAB)
    index_path, _ = build_index(make_archive(tmp_path / "archive"), tmp_path / "index", encoder)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])}
    command = [sys.executable, "-m", "tests.reliability.fake_serve", "serve", "--index", str(index_path)]
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--log-level", "warning", "--header-timeout", "2"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=_lower_descriptor_limit,
        )
    sockets: list[socket.socket] = []
    try:
        wait_for_health(url, timeout=120, proc=proc)
        for _ in range(SLOW_SOCKETS):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"G")
            sockets.append(sock)
        status, body = http_get(url, "/api/health", timeout=30)
        assert status == 200 and b'"status":"ok"' in body
        for sock in sockets:
            sock.settimeout(0.0)
        deadline = time.monotonic() + 60
        open_socks = list(sockets)
        while open_socks and time.monotonic() < deadline:
            open_socks = [s for s in open_socks if not _closed_by_server(s)]
            time.sleep(0.2)
        assert not open_socks, f"{len(open_socks)} slow sockets never closed by the server"
        status, _ = http_get(url, "/api/health", timeout=30)
        assert status == 200
        assert proc.poll() is None, "the server exited"
    finally:
        for sock in sockets:
            sock.close()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-2000:]
    assert log.stat().st_size < 20_000, log.stat().st_size
