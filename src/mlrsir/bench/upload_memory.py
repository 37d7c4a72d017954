"""``mlrsir bench upload-memory``: peak server memory under concurrent large-image uploads.

Starts ``mlrsir serve --index PATH`` on a free 127.0.0.1 port (``--server-src DIR`` runs the
server from another source tree, e.g. an older checkout, with the same interpreter),
waits for ``/api/health``, warms up (one search by item, ``--uploads`` concurrent 1024 px
uploads), reads the server's resident memory (``VmRSS``, the warm level), resets the peak
(``/proc/PID/clear_refs``), then posts ``--uploads`` concurrent ``POST /api/search``
uploads of one generated ``--size`` x ``--size`` JPEG (smooth content, ~3 MB for 9000 px)
and reads ``VmHWM`` (the peak resident memory, from ``/proc/PID/status``) and, after
``--settle`` seconds, ``VmRSS`` again.

Passes (exit 0) when every upload got an answer that is 200 or a clear refusal (413/422
with a message), the peak stays under ``--max-peak-mib`` and the memory after the run is
within ``--max-after-growth-mib`` of the warm level.
"""

from __future__ import annotations

import http.client
import io
import json
import threading
import time
from collections.abc import Callable

import numpy as np

from mlrsir.bench.process_memory import proc_status_mib, reset_peak
from mlrsir.bench.server import judged, multipart_body, served_index, started_server
from mlrsir.errors import ConfigError

ACCEPTED_STATUSES = (200, 413, 422)


def make_large_jpeg(size: int, seed: int = 0) -> bytes:
    """A ``size`` x ``size`` RGB JPEG of smooth random content (a 32x32 noise image upscaled)."""
    from PIL import Image  # noqa: PLC0415 (PIL only on this path)

    small = Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    big = small.resize((size, size), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=80)
    big.close()
    return buffer.getvalue()


def post_uploads(port: int, data: bytes, count: int, timeout: float) -> list[tuple[int, str]]:
    """Post ``count`` uploads of ``data`` at once; ``(status, detail)`` per request (status 0: no answer)."""
    body, content_type = multipart_body("image", "large.jpg", data, {"k": 5})
    results: list[tuple[int, str]] = [(0, "not sent")] * count
    start = threading.Barrier(count)

    def one(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            start.wait()
            conn.request("POST", "/api/search", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            payload = response.read()
            detail = ""
            if response.status != 200:
                try:
                    detail = str(json.loads(payload).get("detail", ""))
                except (ValueError, AttributeError):
                    detail = payload[:200].decode("latin-1")
            results[slot] = (response.status, detail)
        except Exception as exc:  # connection reset, timeout: counted as no answer
            results[slot] = (0, f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _warm_up(port: int, count: int) -> None:
    """One search by item and ``count`` concurrent 1024 px uploads, so that lazily imported parts (attention
    overlay), the worker threads and their allocator arenas exist before the warm level is read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", "/api/random")
        item = json.loads(conn.getresponse().read())["id"]
        conn.request(
            "POST", "/api/search", body=json.dumps({"item_id": item}), headers={"Content-Type": "application/json"}
        )
        conn.getresponse().read()
    finally:
        conn.close()
    post_uploads(port, make_large_jpeg(1024), count, 120.0)


def measure(
    command: Callable[[int], list[str]],
    *,
    uploads: int = 16,
    size: int = 9000,
    settle: float = 3.0,
    start_timeout: float = 180.0,
    request_timeout: float = 600.0,
    env: dict | None = None,
) -> dict:
    """Start the server (``command(port)``, e.g. :func:`mlrsir.bench.server.serve_command`),
    measure, stop it; the report dict."""
    data = make_large_jpeg(size)
    with started_server(command, start_timeout, env=env) as server:
        port, pid = server.port, server.process.pid
        _warm_up(port, uploads)
        warm = proc_status_mib(pid, "VmRSS")
        warm_hwm = proc_status_mib(pid, "VmHWM")
        peak_reset = reset_peak(pid)
        t0 = time.perf_counter()
        answers = post_uploads(port, data, uploads, request_timeout)
        seconds = time.perf_counter() - t0
        peak = proc_status_mib(pid, "VmHWM")
        time.sleep(settle)
        after = proc_status_mib(pid, "VmRSS")
        alive = server.process.poll() is None
    statuses: dict[str, int] = {}
    for status, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "uploads": uploads,
        "image_px": f"{size}x{size}",
        "upload_bytes": len(data),
        "seconds": seconds,
        "statuses": statuses,
        "refusals": sorted({detail for status, detail in answers if status != 200}),
        "server_alive": alive,
        "warm_rss_mib": warm,
        "warm_hwm_mib": warm_hwm,
        "peak_rss_mib": peak,
        "peak_since_warm_up": peak_reset,
        "after_rss_mib": after,
    }


def judge(report: dict, max_peak_mib: float, max_after_growth_mib: float) -> dict:
    """Add ``problems`` and ``passed`` to a :func:`measure` report."""
    problems = []
    bad = {s: n for s, n in report["statuses"].items() if int(s) not in ACCEPTED_STATUSES}
    if bad:
        problems.append(f"answers other than 200/413/422: {bad}")
    if not report["server_alive"]:
        problems.append("the server died")
    if report["peak_rss_mib"] is not None and report["peak_rss_mib"] > max_peak_mib:
        problems.append(f"peak RSS {report['peak_rss_mib']:.0f} MiB > {max_peak_mib:.0f} MiB")
    if report["after_rss_mib"] is not None and report["warm_rss_mib"] is not None:
        growth = report["after_rss_mib"] - report["warm_rss_mib"]
        if growth > max_after_growth_mib:
            problems.append(
                f"RSS after the run is {growth:.0f} MiB above the warm level (> {max_after_growth_mib:.0f})"
            )
    report.update({"max_peak_mib": max_peak_mib, "max_after_growth_mib": max_after_growth_mib})
    return judged(report, problems)


def print_report(r: dict) -> None:
    def mib(v):
        return "-" if v is None else f"{v:.0f} MiB"

    print(
        f"{r['uploads']} concurrent uploads of a {r['image_px']} JPEG ({r['upload_bytes'] / 1e6:.1f} MB) "
        f"in {r['seconds']:.1f} s: statuses {r['statuses']}"
    )
    for detail in r["refusals"]:
        print(f"  refusal: {detail}")
    since = "since the warm-up" if r.get("peak_since_warm_up") else "since the start"
    print(
        f"server RSS   warm {mib(r['warm_rss_mib'])}, peak (VmHWM {since}) {mib(r['peak_rss_mib'])}, "
        f"after {mib(r['after_rss_mib'])}"
    )
    print("result       " + ("passed" if r["passed"] else "FAILED: " + "; ".join(r["problems"])))


def run(args) -> int:
    """``mlrsir bench upload-memory``."""
    if args.uploads < 1 or args.size < 1:
        raise ConfigError("--uploads and --size must be >= 1")
    command, env = served_index(args)
    options = {"uploads": args.uploads, "size": args.size, "settle": args.settle, "start_timeout": args.start_timeout}
    report = measure(command, env=env, **options)
    judge(report, args.max_peak_mib, args.max_after_growth_mib)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["passed"] else 1
