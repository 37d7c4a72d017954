"""``mlrsir bench slow-clients``: many slow sockets against ``mlrsir serve`` while a normal client checks health.

``mlrsir bench slow-clients --index PATH [--sockets 2000] [--nofile 1024] [--hold 20]``
starts ``mlrsir serve --index PATH`` on a free 127.0.0.1 port with its file descriptor
limit lowered to ``--nofile`` (the attack of issue 24 item 9 used 1,024), opens
``--sockets`` connections that each send one byte of a request and then nothing, keeps them
for ``--hold`` seconds (each one the server closes is replaced by a new one, so the attack
goes on) while a normal client sends ``GET /api/health`` every 0.5 s, and
reports: how many slow sockets connected, how many health requests answered and how fast
(first, p50, max, in ms), how many slow sockets the server closed itself, and the size of
the server's log (bytes, lines, ``Too many open files`` lines).

``--server-src FOLDER`` runs the server from another source folder (e.g. a checkout of an
older version) to compare. Exit status 0 when every health request answered, 1 otherwise.
"""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from mlrsir.bench.load import percentile
from mlrsir.bench.server import add_served_index_options, http_get, served_index, started_server
from mlrsir.errors import ConfigError

PROBE_EVERY_S = 0.5
PROBE_TIMEOUT_S = 5.0


def register(sub) -> None:
    """Add ``slow-clients`` to the ``mlrsir bench`` sub-commands."""
    p = sub.add_parser(
        "slow-clients", help="slow sockets (one byte each) against `mlrsir serve`: does /api/health still answer?"
    )
    add_served_index_options(p)
    p.add_argument("--sockets", type=int, default=2000, help="slow sockets to open")
    p.add_argument("--nofile", type=int, default=1024, help="file descriptor limit of the server process")
    p.add_argument("--hold", type=float, default=20.0, help="seconds to keep the slow sockets open and probe health")
    p.set_defaults(func=run)


def _server_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True


def attack(url: str, port: int, *, sockets: int, hold: float) -> dict:
    """Open the slow sockets, probe ``/api/health`` for ``hold`` seconds; the figures (module doc)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = sockets + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    opened: list[socket.socket] = []
    connect_failures = 0

    def slow_socket() -> socket.socket | None:
        nonlocal connect_failures
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
            sock.sendall(b"G")
            sock.setblocking(False)
            return sock
        except OSError:
            connect_failures += 1
            return None

    t0 = time.perf_counter()
    for _ in range(sockets):
        sock = slow_socket()
        if sock is not None:
            opened.append(sock)
    open_seconds = time.perf_counter() - t0
    connected = len(opened)
    closed = 0
    latencies: list[float] = []
    failures = 0
    problems: list[str] = []
    first_ms = None
    deadline = time.perf_counter() + hold
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                status, _ = http_get(url, "/api/health", timeout=PROBE_TIMEOUT_S)
                ok = status == 200
                problem = None if ok else f"status {status}"
            except OSError as exc:
                ok, problem = False, f"{type(exc).__name__}: {exc}"
            if problem and problem not in problems:
                problems.append(problem)
            elapsed_ms = (time.perf_counter() - start) * 1000
            if first_ms is None:
                first_ms = elapsed_ms if ok else None
                if not ok:
                    first_ms = -1.0
            if ok:
                latencies.append(elapsed_ms)
            else:
                failures += 1
            # the attack goes on: every slow socket the server closed is replaced by a new one
            still_open = []
            for sock in opened:
                if _server_closed(sock):
                    closed += 1
                    sock.close()
                    replacement = slow_socket()
                    if replacement is not None:
                        still_open.append(replacement)
                else:
                    still_open.append(sock)
            opened = still_open
            time.sleep(max(0.0, PROBE_EVERY_S - (time.perf_counter() - start)))
    finally:
        for sock in opened:
            sock.close()
    return {
        "sockets": sockets,
        "connected": connected,
        "connect_failures": connect_failures,
        "open_seconds": round(open_seconds, 2),
        "hold_seconds": hold,
        "health_ok": len(latencies),
        "health_failed": failures,
        "health_first_ms": None if first_ms is None or first_ms < 0 else round(first_ms, 1),
        "health_p50_ms": None if not latencies else round(percentile(latencies, 50) or 0.0, 1),
        "health_max_ms": None if not latencies else round(max(latencies), 1),
        "closed_by_server": closed,
        "health_problems": problems[:5],
    }


def run(args) -> int:
    """``mlrsir bench slow-clients``: start the server, attack, print; exit status."""
    if args.sockets < 1 or args.nofile < 64 or args.hold <= 0:
        raise ConfigError("--sockets must be >= 1, --nofile >= 64 and --hold > 0")
    command, env = served_index(args)
    nofile = int(args.nofile)

    def lower_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with tempfile.TemporaryDirectory(prefix="mlrsir-slow-clients-") as folder:
        log_path = Path(folder) / "server.log"
        with open(log_path, "wb") as log:
            popen = {"stdout": log, "stderr": subprocess.STDOUT, "env": env, "preexec_fn": lower_limit}
            with started_server(command, args.start_timeout, **popen) as server:
                result = attack(server.url, server.port, sockets=args.sockets, hold=args.hold)
                result["server_alive"] = server.process.poll() is None
        text = log_path.read_text(errors="replace")
    result.update(
        nofile=nofile,
        server_src=args.server_src,
        log_bytes=len(text.encode()),
        log_lines=text.count("\n"),
        log_emfile_lines=text.count("Too many open files"),
        log_tracebacks=text.count("Traceback"),
    )
    result["passed"] = result["health_failed"] == 0 and result["health_ok"] > 0
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0 if result["passed"] else 1


def print_report(r: dict) -> None:
    print(f"server       fd limit {r['nofile']}" + (f", source {r['server_src']}" if r["server_src"] else ""))
    print(
        f"slow sockets {r['connected']}/{r['sockets']} connected in {r['open_seconds']:.1f} s "
        f"({r['connect_failures']} connects failed); {r['closed_by_server']} closed by the server "
        f"(each replaced by a new one) within {r['hold_seconds']:g} s"
    )
    ms = lambda v: "-" if v is None else f"{v:.1f} ms"  # noqa: E731
    print(
        f"/api/health  {r['health_ok']} answered, {r['health_failed']} failed; first {ms(r['health_first_ms'])}, "
        f"p50 {ms(r['health_p50_ms'])}, max {ms(r['health_max_ms'])}"
    )
    print(
        f"server log   {r['log_bytes']} bytes, {r['log_lines']} lines, {r['log_emfile_lines']} 'Too many open files', "
        f"{r['log_tracebacks']} tracebacks"
    )
    if r["health_problems"]:
        print("health errors " + "; ".join(r["health_problems"]))
    print("result       " + ("passed" if r["passed"] else "FAILED: /api/health did not always answer"))
