"""``mlrsir bench load``: concurrent clients against ``mlrsir serve`` on loopback.

``mlrsir bench load --index PATH [--clients 16] [--requests 5000] [--duration-limit 120]``
starts ``mlrsir serve --index PATH`` as a subprocess on a free 127.0.0.1 port (or uses
``--url`` of a running server, with ``--server-pid`` for its memory), waits for
``/api/health``, then ``--clients`` threads, each with its own keep-alive HTTP connection,
send ``POST /api/search`` requests until ``--requests`` have been sent in total or
``--duration-limit`` seconds have passed: by ``item_id`` of random indexed images (JSON
body) and, for ``--upload-fraction`` of them, a multipart upload of one item's thumbnail
(which runs the model). It reports throughput (requests/s), latency p50/p99 (ms), errors
(non-200 answers and connection failures; target 0) and the server's resident memory
(``/proc/<pid>/status``): the warm level (``VmRSS`` after a warm-up), the peak during the
run (``VmHWM``, reset after the warm-up) and the level after the run (``VmRSS``, read
``--settle`` seconds after the last request).

``--baseline-src DIR`` first runs the same plan against a server started from the source
folder ``DIR`` (``PYTHONPATH``, e.g. ``/path/to/older-checkout/src``), so a change is measured
beside its baseline in one run (report key ``baseline``; the exit status is this checkout's).

Exit status: 0 when there were no errors, every request was sent and the memory growth
stayed within ``--max-rss-growth-mib``; 1 otherwise (the report says which).
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mlrsir.bench.machine import load_average, load_sentence
from mlrsir.bench.process_memory import proc_status_mib, reset_peak, rss_mib
from mlrsir.bench.server import (
    connect,
    http_get,
    judged,
    multipart_body,
    served_index,
    started_server,
    wait_for_health,
)
from mlrsir.errors import ConfigError


# ---------------------------------------------------------------------------- helpers
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n q / 100)
    return ordered[int(rank) - 1]


# ---------------------------------------------------------------------------- load
def run_load(
    url: str,
    item_ids: list[int],
    *,
    clients: int = 16,
    requests: int = 5000,
    duration_limit: float = 120.0,
    upload_fraction: float = 0.0,
    upload: bytes | None = None,
    k: int = 24,
    seed: int = 0,
    timeout: float = 60.0,
    attention: bool = False,
) -> dict:
    """Send ``requests`` search requests from ``clients`` threads (bounded by ``duration_limit``).

    With ``attention`` every successful search is followed, on the same connection, by the
    page's second request, the query's attention map (``GET /api/items/{id}/attention``, or
    ``POST /api/attention`` for an upload); the latency is then that of the pair.

    Returns:
        ``{"requests_sent", "ok", "errors", "error_examples", "uploads", "seconds",
        "throughput_rps", "p50_ms", "p99_ms", "max_ms"}`` (latencies of successful requests).
    """
    counter = itertools.count()
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    sent = {"n": 0, "uploads": 0}
    start = time.perf_counter()
    deadline = start + duration_limit

    def client(slot: int) -> None:
        rng = random.Random(seed * 1000 + slot)
        conn = connect(url, timeout)
        try:
            while time.perf_counter() < deadline:
                if next(counter) >= requests:
                    return
                is_upload = upload is not None and rng.random() < upload_fraction
                item_id = rng.choice(item_ids)
                if upload is not None and is_upload:
                    body, ctype = multipart_body("image", "query.jpg", upload, {"k": k})
                else:
                    body = json.dumps({"item_id": item_id, "k": k}).encode()
                    ctype = "application/json"
                t0 = time.perf_counter()
                problem = None
                try:
                    conn.request("POST", "/api/search", body=body, headers={"Content-Type": ctype})
                    response = conn.getresponse()
                    payload = response.read()
                    if response.status != 200:
                        problem = f"HTTP {response.status}: {payload[:200]!r}"
                    elif attention:
                        if is_upload:
                            assert upload is not None  # is_upload implies an upload body
                            abody, actype = multipart_body("image", "query.jpg", upload, {})
                            conn.request("POST", "/api/attention", body=abody, headers={"Content-Type": actype})
                        else:
                            conn.request("GET", f"/api/items/{item_id}/attention")
                        response = conn.getresponse()
                        payload = response.read()
                        if response.status != 200:
                            problem = f"attention HTTP {response.status}: {payload[:200]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                    conn.close()
                    conn = connect(url, timeout)
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    sent["n"] += 1
                    sent["uploads"] += is_upload
                    if problem is None:
                        latencies.append(elapsed)
                    else:
                        errors.append(problem)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_limit + timeout + 10)
    seconds = time.perf_counter() - start
    return {
        "requests_sent": sent["n"],
        "ok": len(latencies),
        "errors": len(errors),
        "error_examples": list(dict.fromkeys(errors))[:5],
        "uploads": sent["uploads"],
        "seconds": seconds,
        "throughput_rps": len(latencies) / seconds if seconds > 0 else 0.0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "attention": bool(attention),
    }


def collect_ids(url: str, count: int = 64) -> list[int]:
    """Ids of indexed images, from ``/api/random``."""
    ids = set()
    for _ in range(count):
        status, body = http_get(url, "/api/random")
        if status != 200:
            raise ConfigError(f"{url}/api/random answered {status}: {body[:200]!r} (is the index empty?)")
        ids.add(int(json.loads(body)["id"]))
    return sorted(ids)


@dataclass(frozen=True)
class LoadPlan:
    """What ``mlrsir bench load`` sends (its options, read once from the command line)."""

    clients: int = 16
    requests: int = 5000
    duration_limit: float = 120.0
    upload_fraction: float = 0.0
    k: int = 24
    seed: int = 0
    warmup_requests: int = 1000
    attention: str = "off"  # off | on | both
    settle: float = 0.0
    max_rss_growth_mib: float = 64.0

    @classmethod
    def from_args(cls, args) -> LoadPlan:
        """The plan of parsed ``mlrsir bench load`` arguments."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def load(self, url: str, ids: list[int], upload: bytes | None, **overrides):
        """:func:`run_load` with this plan's options (``overrides`` win)."""
        options: dict[str, Any] = {"clients": self.clients, "requests": self.requests, "k": self.k}
        options |= {"duration_limit": self.duration_limit, "upload_fraction": self.upload_fraction, "seed": self.seed}
        return run_load(url, ids, upload=upload, **(options | overrides))


def benchmark(url: str, *, server_pid: int | None, plan: LoadPlan) -> dict:
    """Warm up, measure memory, run the load, measure memory again."""
    load_start = load_average()
    ids = collect_ids(url)
    status, thumb = http_get(url, f"/api/items/{ids[0]}/thumbnail")
    upload = thumb if status == 200 and plan.upload_fraction > 0 else None
    # warm up with the same concurrency and requests as the measured run (with the attention
    # maps under --attention on): per-thread allocator arenas and the server's bounded caches
    # (thumbnails, attention PNGs) fill here, so "before" is the steady state, not a cold start
    warm = plan.load(
        url,
        ids,
        upload,
        requests=min(plan.warmup_requests, plan.requests),
        duration_limit=60.0,
        seed=plan.seed + 1,
        attention=plan.attention == "on",
    )

    rss_before = rss_mib(server_pid)  # the warm level
    peak_reset = server_pid is not None and reset_peak(server_pid)
    result = plan.load(url, ids, upload, attention=plan.attention == "on")
    peak = proc_status_mib(server_pid, "VmHWM") if server_pid is not None else None
    time.sleep(max(0.0, plan.settle))  # let freed memory go back first
    rss_after = rss_mib(server_pid)
    if plan.attention == "both":  # the same load again, each search followed by its attention map
        result["with_attention"] = plan.load(url, ids, upload, attention=True)
    growth = None if rss_before is None or rss_after is None else rss_after - rss_before
    result.update(
        {
            "url": url,
            "clients": plan.clients,
            "requests_planned": plan.requests,
            "duration_limit_s": plan.duration_limit,
            "distinct_query_ids": len(ids),
            "warmup_errors": warm["errors"],
            "server_pid": server_pid,
            "rss_before_mib": rss_before,
            "rss_after_mib": rss_after,
            "rss_growth_mib": growth,
            "warm_rss_mib": rss_before,
            "peak_rss_mib": peak,
            "peak_since_warm_up": bool(peak_reset),
            "after_rss_mib": rss_after,
            "after_growth_mib": growth,
            "max_rss_growth_mib": plan.max_rss_growth_mib,
            "load_average_start": load_start,
            "load_average_end": load_average(),
        }
    )
    problems = []
    if result["errors"] or warm["errors"]:
        problems.append(f"{result['errors'] + warm['errors']} failed requests")
    if result["requests_sent"] < plan.requests:
        problems.append(
            f"only {result['requests_sent']} of {plan.requests} requests sent within {plan.duration_limit:.0f} s"
        )
    if growth is not None and growth > plan.max_rss_growth_mib:
        problems.append(f"server memory grew by {growth:.1f} MiB (> {plan.max_rss_growth_mib} MiB)")
    return judged(result, problems)


def print_report(r: dict) -> None:
    def ms(v):
        return "-" if v is None else f"{v:.1f} ms"

    def mib(v):
        return "-" if v is None else f"{v:.1f} MiB"

    print(
        f"load test of {r['url']}: {r['clients']} clients, {r['requests_sent']} of {r['requests_planned']} "
        f"search requests ({r['uploads']} uploads) in {r['seconds']:.1f} s"
    )
    if r.get("load_average_start"):
        print(f"machine      {load_sentence(r['load_average_start'], r.get('load_average_end'))}")
    print(f"throughput   {r['throughput_rps']:.1f} requests/s")
    print(f"latency      p50 {ms(r['p50_ms'])}, p99 {ms(r['p99_ms'])}, max {ms(r['max_ms'])}")
    print(f"errors       {r['errors']} (warm-up: {r['warmup_errors']})")
    for example in r["error_examples"]:
        print(f"  e.g. {example}")
    print(
        f"server RSS   warm {mib(r['rss_before_mib'])}, peak {mib(r.get('peak_rss_mib'))} "
        f"(VmHWM{' since the warm-up' if r.get('peak_since_warm_up') else ''}), after {mib(r['rss_after_mib'])} "
        f"(after - warm {mib(r['rss_growth_mib'])}, bound {r['max_rss_growth_mib']} MiB)"
    )
    if r.get("attention"):
        print("             (each request = a search followed by its attention map)")
    extra = r.get("with_attention")
    if extra:
        print(
            f"with the attention map after each search: {extra['ok']} pairs in {extra['seconds']:.1f} s, "
            f"{extra['throughput_rps']:.1f} pairs/s, p50 {ms(extra['p50_ms'])}, p99 {ms(extra['p99_ms'])}, "
            f"errors {extra['errors']}"
        )
    print("result       " + ("passed" if r["passed"] else "FAILED: " + "; ".join(r["problems"])))


def run(args) -> int:
    """``mlrsir bench load``: start (or reach) the server, measure, print; exit status."""

    if (args.index is None) == (args.url is None):
        raise ConfigError("give exactly one of --index (start a server) and --url (use a running one)")
    if args.clients < 1 or args.requests < 1 or args.duration_limit <= 0:
        raise ConfigError("--clients and --requests must be >= 1 and --duration-limit > 0")
    if not 0.0 <= args.upload_fraction <= 1.0:
        raise ConfigError(f"--upload-fraction {args.upload_fraction}: must be between 0 and 1")
    if args.url is not None:
        url = args.url.rstrip("/")
        wait_for_health(url, args.start_timeout)
        result = benchmark(url, server_pid=args.server_pid, plan=LoadPlan.from_args(args))
    else:
        command, env = served_index(args, args.runtime)
        baseline = None
        if getattr(args, "baseline_src", None):  # the same plan against an older checkout's server first
            old_env = dict(env, PYTHONPATH=str(Path(args.baseline_src).resolve()))
            with started_server(command, args.start_timeout, env=old_env) as server:
                baseline = benchmark(server.url, server_pid=server.process.pid, plan=LoadPlan.from_args(args))
            baseline["server_src"] = str(Path(args.baseline_src).resolve())
        with started_server(command, args.start_timeout, env=env) as server:
            result = benchmark(server.url, server_pid=server.process.pid, plan=LoadPlan.from_args(args))
        if baseline is not None:
            result["baseline"] = baseline
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if result.get("baseline"):
            print(f"baseline: the server of {result['baseline']['server_src']}")
            print_report(result["baseline"])
            print("\nthis checkout:")
        print_report(result)
    return 0 if result["passed"] else 1
