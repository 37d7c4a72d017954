"""Search at scale behind ``mlrsir bench search --codes ... --backends ...``.

For every database size ``n``, code length and kind of codes (``random``: uniform in
{0,1}^bits; ``realistic``: real UCM codes grown by per-bit flips, see
:mod:`mlrsir.bench.realistic`), the same ``Q`` queries are searched (top-``k``) by each
back-end of :mod:`mlrsir.index.backends`:

* ``flat`` (exact, faiss ``IndexBinaryFlat`` on padded codes) runs first and gives the
  exact distances; at ``n >= big_n`` it is timed on the first ``big_n_queries`` queries only
  (a full scan of 1e8 codes costs tens of ms per query), and recall of every back-end is
  then measured on those queries.
* ``mih``, ``ivf``, ``hnsw``: build seconds, resident memory, queries/s, recall@k against
  the exact result with ties (:func:`mlrsir.metrics.recall.recall_at_k_with_ties`), speed-up
  over ``flat`` in the same run.
  ``hnsw`` above ``hnsw_max_n`` items is skipped (its build is far too slow on 2 cores).

With ``--query-budget S``, every back-end (flat included) is timed on a prefix of the
queries sized to take about ``S`` seconds (column ``queries``), and recall is measured on
the queries both it and flat ran (``recall_queries`` in the JSON).

Timed is the back-end's search on packed queries (the faiss call plus the re-ranking by
(distance, position) the index does), not the conversion of results to Python lists.
Resident MB is the growth of this process's resident set while the back-end is built (the
structure; the packed database it is built from is not counted), next to the back-end's
own estimate of its bytes. queries/CPU-s divides by this process's CPU time (all threads),
less sensitive to the other processes of a shared machine than queries/s (wall clock).
"""

from __future__ import annotations

import gc
import os
import time

import numpy as np

from mlrsir.bench.machine import load_average, report_header
from mlrsir.bench.process_memory import peak_rss_mib, rss_mib, trim_heap
from mlrsir.bench.realistic import make_codes
from mlrsir.index.backend_registry import scale_bench_backends
from mlrsir.index.backends import canonical_backend, make_backend
from mlrsir.metrics.recall import recall_at_k_with_ties
from mlrsir.report.tables import markdown_table


def _distances(found, k: int) -> np.ndarray:
    """``(Q, k)`` int64 distances (``-1`` = empty) from a back-end's ``_search`` output."""
    if isinstance(found, tuple):
        return np.asarray(found[1], dtype=np.int64)
    out = np.full((len(found), k), -1, dtype=np.int64)
    for i, (_, d) in enumerate(found):
        out[i, : min(k, d.size)] = d[:k]
    return out


def run_scale_bench(
    *,
    ns=(1_000_000,),
    bits=(32, 48),
    codes=("random", "realistic"),
    backends=None,
    queries=1000,
    k=100,
    real=None,
    big_n=100_000_000,
    big_n_queries=100,
    hnsw_max_n=1_000_000,
    query_budget_s=None,
    probe=20,
    options=None,
    seed=0,
    threads=None,
    log=print,
) -> dict:
    """Run the scale benchmark; returns ``{"config", "rows", "notes"}`` (JSON-able).

    ``real``: ``{bits: {"codes", "groups", "run"}}`` real codes for ``realistic``;
    ``options``: ``{backend: {option: value}}`` passed to :func:`make_backend`;
    ``query_budget_s``: when given, each back-end is timed on a prefix of the queries sized
    to take about that long (at least ``probe``), and recall uses the queries both flat and
    the back-end ran.
    """
    import faiss

    backends = list(backends or scale_bench_backends())

    if threads:
        faiss.omp_set_num_threads(int(threads))
    options = options or {}
    real = real or {}
    rows: list[dict] = []
    notes: list[str] = []
    config = {
        "n": list(ns),
        "bits": list(bits),
        "codes": list(codes),
        "backends": list(backends),
        "queries": queries,
        "k": k,
        "seed": seed,
        "big_n": big_n,
        "big_n_queries": big_n_queries,
        "query_budget_s": query_budget_s,
        "cpu_count": os.cpu_count(),
        "threads": faiss.omp_get_max_threads(),
        "load_average": load_average(),
        "options": options,
    }
    order = ["flat"] + [b for b in backends if canonical_backend(b) != "faiss"]
    for n in ns:
        for b in bits:
            for kind in codes:
                rng = np.random.default_rng([seed, n, b, len(kind)])
                t0 = time.perf_counter()
                db, q, note = make_codes(kind, n, queries, b, rng, real)
                log(f"n={n} bits={b} {kind}: codes generated in {time.perf_counter() - t0:.1f} s")
                note = f"{kind} {b}-bit codes: {note}"
                if note not in notes:
                    notes.append(note)
                ids = np.arange(n, dtype=np.int64)
                exact = None
                flat_qps = flat_cpu_qps = None
                nq_exact = min(queries, big_n_queries) if n >= big_n else queries
                for name in order:
                    canon = canonical_backend(name)
                    if canon == "hnsw" and n > hnsw_max_n:
                        rows.append(
                            {"n": n, "bits": b, "codes": kind, "backend": "hnsw", "skipped": f"n > {hnsw_max_n}"}
                        )
                        log(f"  hnsw skipped (n > {hnsw_max_n})")
                        continue
                    gc.collect()
                    trim_heap()
                    rss0 = rss_mib() or 0.0
                    t0 = time.perf_counter()
                    engine = make_backend(canon, b, n=n, **options.get(canon, {})).build(db, ids)
                    build_s = time.perf_counter() - t0
                    resident = int(max(0.0, (rss_mib() or 0.0) - rss0) * 2**20)  # bytes
                    nq = nq_exact if canon == "faiss" else queries
                    if query_budget_s:  # time a prefix of the queries sized to the budget
                        t0 = time.perf_counter()
                        engine._search(q[:probe], k, None)
                        per_query = max((time.perf_counter() - t0) / probe, 1e-9)
                        nq = int(min(nq, max(probe, query_budget_s / per_query)))
                    t0, c0 = time.perf_counter(), time.process_time()
                    found = engine._search(q[:nq], k, None)
                    wall = max(time.perf_counter() - t0, 1e-9)
                    cpu = max(time.process_time() - c0, 1e-9)
                    dist = _distances(found, k)
                    if canon == "faiss":
                        exact = dist
                        nq_exact = nq
                        recall = 1.0
                    else:
                        assert exact is not None  # "flat" is first in ``order``
                        recall = recall_at_k_with_ties(dist[:nq_exact], exact[: dist.shape[0]], k)
                    qps = nq / wall
                    if canon == "faiss":
                        flat_qps, flat_cpu_qps = qps, nq / cpu
                    row = {
                        "n": n,
                        "bits": b,
                        "codes": kind,
                        "backend": canon if canon != "faiss" else "flat",
                        "parameters": engine.describe(),
                        "build_s": build_s,
                        "resident_mb": resident / 2**20,
                        "estimated_mb": engine.memory_bytes() / 2**20,
                        "queries_timed": nq,
                        "queries_per_s": qps,
                        "queries_per_cpu_s": nq / cpu,
                        "recall_at_k": recall,
                        "recall_queries": min(nq, nq_exact),
                        "speedup_vs_flat": qps / flat_qps,
                        "speedup_vs_flat_cpu": (nq / cpu) / flat_cpu_qps,
                        "peak_rss_mb": (peak_rss_mib() or 0.0),
                    }
                    rows.append(row)
                    log(
                        f"  {row['parameters']}: build {build_s:.1f} s, {row['resident_mb']:.0f} MB, "
                        f"{qps:.0f} q/s ({nq} queries), recall@{k} {recall:.4f}, x{row['speedup_vs_flat']:.1f} vs flat"
                    )
                    del engine, found
                    gc.collect()
                del db, q
                gc.collect()
    if any(n >= big_n for n in ns):
        notes.append(
            f"at n >= {big_n}, flat is timed on the first {big_n_queries} queries only and recall of every "
            f"back-end is measured on those {big_n_queries} queries"
        )
    config["load_average_end"] = load_average()
    config["peak_rss_mb"] = peak_rss_mib() or 0.0
    return {"config": config, "rows": rows, "notes": notes}


SCALE_NOTE = (
    "recall@k is against exact search with ties (mlrsir.metrics.recall.recall_at_k_with_ties). "
    "'x flat' divides queries/s by flat's in the same run; 'x flat (CPU)' divides queries/CPU-s, "
    "the fair ratio when other processes take most of the CPU."
)
SCALE_COLUMNS = ["n", "bits", "codes", "back-end", "build s", "resident MB", "est. MB", "queries/s"]
SCALE_COLUMNS += ["queries/CPU-s", "queries", "recall@k", "x flat", "x flat (CPU)"]


def _scale_row(r: dict) -> list:
    """One table row of a result row (a skipped back-end says why in its fifth cell)."""
    head = [f"{r['n']:.0e}", r["bits"], r["codes"]]
    if "skipped" in r:
        return head + [r["backend"], f"skipped: {r['skipped']}"] + [""] * (len(SCALE_COLUMNS) - 5)
    rates = [f"{r['queries_per_s']:.0f}", f"{r['queries_per_cpu_s']:.0f}", r["queries_timed"]]
    sizes = [f"{r['build_s']:.1f}", f"{r['resident_mb']:.0f}", f"{r['estimated_mb']:.0f}"]
    ratios = [f"{r['recall_at_k']:.4f}", f"{r['speedup_vs_flat']:.1f}", f"{r['speedup_vs_flat_cpu']:.1f}"]
    return head + [r["parameters"]] + sizes + rates + ratios


def to_markdown(result: dict) -> str:
    """Markdown table of a :func:`run_scale_bench` result."""
    c = result["config"]
    title = f"mlrsir bench search at scale: top-{c['k']}, {c['queries']} queries"
    table = markdown_table(SCALE_COLUMNS, [_scale_row(r) for r in result["rows"]], align_right_from=4)
    notes = [f"- {note}" for note in result["notes"]]
    return "\n".join(report_header(title, c, SCALE_NOTE) + [table, "", "Notes:", ""] + notes) + "\n"


def plot(result: dict, path, key: str = "queries_per_cpu_s") -> None:
    """PNG of queries per CPU-second (or ``key``) against n (log-log), one line per
    (back-end, bits, codes). CPU-seconds by default: on a shared machine wall-clock rates
    follow the other processes' load more than the back-end."""
    import matplotlib  # noqa: PLC0415 (matplotlib only on this path)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 (matplotlib only on this path)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    keys = sorted({(r["backend"], r["bits"], r["codes"]) for r in result["rows"] if "skipped" not in r})
    for i, (backend, b, kind) in enumerate(keys):
        pts = sorted(
            (r["n"], r[key])
            for r in result["rows"]
            if "skipped" not in r and (r["backend"], r["bits"], r["codes"]) == (backend, b, kind)
        )
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker="o",
            color=plt.cm.tab20(i % 20),
            linestyle="-" if kind == "realistic" else "--",
            label=f"{backend} {b}b {kind}",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("database size n (codes)")
    ax.set_ylabel(("queries per CPU-second" if key == "queries_per_cpu_s" else key) + f", top-{result['config']['k']}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
