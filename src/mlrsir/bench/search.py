"""Search benchmark behind ``mlrsir bench search``: speed, memory and recall side by side.

For each code length, on the same database of ``n`` codes and the same ``Q`` queries:

* ``faiss`` (exact, codes padded to 4/8/16/32/64 bytes) and ``faiss-unpadded`` (exact,
  ``ceil(bits/8)`` bytes): queries/s over all queries, top-``k``.
* ``numpy`` (exact popcount oracle): timed on the first ``m`` queries only, ``m`` chosen
  so that it runs about ``numpy_budget_s`` seconds (the table says ``m``); its lists
  are compared with both faiss back-ends on those queries (``identical`` column).
* ``hash`` (faiss multi-index hashing, sub-linear, approximate): queries/s and
  recall@k against the exact result with ties (:func:`mlrsir.metrics.recall.recall_at_k_with_ties`: the
  fraction of the exact top-k distance multiset the returned distances match, so any member
  of a tied group is right).
* ``float`` exhaustive search on continuous features: ``faiss.IndexFlatIP`` over
  ``D``-dim float32 unit vectors (inner product = cosine), also on a time-budgeted
  subset of queries. Source ``random``: ``D = float_dim`` (500, the size of the hash
  head's hidden layer) random Gaussian vectors normalised to unit length; one float
  database serves every code length. Source ``ucm``: the run's continuous head outputs
  (``D`` = head output dimension), tiled like the codes (below).

Bytes per image count only the stored vector (codes or floats), not ids.

Sources:
* ``random``: codes uniform in {0,1}^bits (generated directly as random packed bytes
  with the padding bits zeroed, which is the same distribution); queries likewise.
* ``ucm``: for each run directory, every image under ``images`` (optionally the first
  ``max_images``) is augmented into ``views`` variants with the training augmentation of
  :mod:`mlrsir.data.transforms` (view ``t`` is dihedral transform ``t % 8``: 4 rotations x
  optional left-right flip, then :func:`~mlrsir.data.transforms.jitter_brightness_contrast`
  with contrast and brightness factors uniform in [0.9, 1.1]) and encoded with the run's
  model (M real codes). To reach ``n``, the M codes are tiled: copy ``c`` of real code ``i`` is the
  code with every bit flipped independently with probability ``flip_prob`` (copy 0 is
  unperturbed); the continuous outputs get Gaussian noise of ``flip_prob`` x their
  per-dimension std. Queries are real codes drawn at random, perturbed the same way.
  The output states M, the encoding speed and this procedure.
"""

from __future__ import annotations

import os
import time

import numpy as np

from mlrsir.bench.machine import load_average, report_header
from mlrsir.bench.material import encode_augmented_views, random_packed_codes
from mlrsir.errors import ConfigError
from mlrsir.index.backends import FaissHashBackend, make_backend, packed_width
from mlrsir.metrics.recall import recall_at_k_of_results
from mlrsir.report.tables import markdown_table


def _random_unit_float(rng: np.random.Generator, n: int, dim: int, chunk: int = 1 << 16) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        x = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[start : start + chunk] = x
    return out


def _flip_bits(codes: np.ndarray, prob: float, rng: np.random.Generator) -> np.ndarray:
    """Unpacked {0,1} codes with each bit flipped with probability ``prob``."""
    return codes ^ (rng.random(codes.shape) < prob).astype(np.uint8)


class _Clock:
    """Wall and process-CPU seconds of a block (``with _Clock() as c: ...; c.wall, c.cpu``)."""

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = max(time.perf_counter() - self._w, 1e-12)
        self.cpu = max(time.process_time() - self._c, 1e-12)


def _time_budgeted(search_one_block, total: int, budget_s: float, probe: int = 2) -> tuple[float, int, float]:
    """Run ``search_one_block(start, stop)`` on a prefix of the queries sized to take about
    ``budget_s``. Returns ``(queries_per_s, queries_timed, queries_per_cpu_s)``."""
    probe = min(probe, total)
    t0 = time.perf_counter()
    search_one_block(0, probe)
    per_query = max((time.perf_counter() - t0) / probe, 1e-9)
    m = int(min(total, max(probe, budget_s / per_query)))
    with _Clock() as clock:
        search_one_block(0, m)
    return m / clock.wall, m, m / clock.cpu


def _bench_codes(db_packed, q_packed, bits, k, numpy_budget_s, hash_options, log) -> tuple[list[dict], dict]:
    """Rows for one code length. Returns ``(rows, exact_results_of_faiss)``."""
    n, nq = db_packed.shape[0], q_packed.shape[0]
    ids = np.arange(n, dtype=np.int64)
    rows = []
    exact = {}
    for name in ("faiss", "faiss-unpadded"):
        t0 = time.perf_counter()
        backend = make_backend(name, bits).build(db_packed, ids)
        build_s = time.perf_counter() - t0
        with _Clock() as clock:
            exact[name] = backend.search(q_packed, k=k)
        seconds = clock.wall
        rows.append(
            {
                "bits": bits,
                "backend": name,
                "exact": True,
                "bytes_per_image": backend.bytes_per_code,
                "queries_per_s": nq / seconds,
                "queries_per_cpu_s": nq / clock.cpu,
                "queries_timed": nq,
                "build_s": build_s,
                "recall_at_k": 1.0,
            }
        )
        log(f"  {bits} bits {name}: {nq / seconds:.0f} queries/s")
    oracle = make_backend("numpy", bits).build(db_packed, ids)
    numpy_results: list = []

    def run_numpy(start, stop):
        numpy_results[:] = oracle.search(q_packed[start:stop], k=k)

    qps, m, qps_cpu = _time_budgeted(run_numpy, nq, numpy_budget_s)
    identical = all(numpy_results == exact[name][:m] for name in exact)
    rows.append(
        {
            "bits": bits,
            "backend": "numpy",
            "exact": True,
            "bytes_per_image": packed_width(bits),
            "queries_per_s": qps,
            "queries_per_cpu_s": qps_cpu,
            "queries_timed": m,
            "build_s": 0.0,
            "recall_at_k": 1.0,
            "identical_to_faiss": bool(identical),
        }
    )
    for row in rows:
        row.setdefault("identical_to_faiss", bool(identical))
    log(f"  {bits} bits numpy: {qps:.1f} queries/s on {m} queries; identical to faiss: {identical}")

    t0 = time.perf_counter()
    hashed = FaissHashBackend(bits, **hash_options).build(db_packed, ids)
    build_s = time.perf_counter() - t0
    with _Clock() as clock:
        approx = hashed.search(q_packed, k=k)
    seconds = clock.wall
    rows.append(
        {
            "bits": bits,
            "backend": f"hash (b={hashed.b}, tables={hashed.nhash}, nflip={hashed.nflip})",
            "exact": False,
            "bytes_per_image": hashed.bytes_per_code + 8 * hashed.nhash,
            "queries_per_s": nq / seconds,
            "queries_per_cpu_s": nq / clock.cpu,
            "queries_timed": nq,
            "build_s": build_s,
            "recall_at_k": recall_at_k_of_results(approx, exact["faiss"], k),
            "identical_to_faiss": None,
        }
    )
    log(f"  {bits} bits hash: {nq / seconds:.0f} queries/s, recall@{k} {rows[-1]['recall_at_k']:.3f}")
    return rows, exact


def _bench_float(db_float: np.ndarray, q_float: np.ndarray, k: int, budget_s: float, log) -> dict:
    import faiss

    t0 = time.perf_counter()
    index = faiss.IndexFlatIP(db_float.shape[1])
    index.add(db_float)
    build_s = time.perf_counter() - t0

    def run(start, stop):
        index.search(q_float[start:stop], k)

    qps, m, qps_cpu = _time_budgeted(run, q_float.shape[0], budget_s)
    log(f"  float D={db_float.shape[1]}: {qps:.1f} queries/s on {m} queries")
    return {
        "backend": f"float32 flat IP (D={db_float.shape[1]})",
        "exact": True,
        "bytes_per_image": 4 * db_float.shape[1],
        "queries_per_s": qps,
        "queries_per_cpu_s": qps_cpu,
        "queries_timed": m,
        "build_s": build_s,
        "recall_at_k": None,
        "identical_to_faiss": None,
    }


def _tile(material: dict, n: int, nq: int, flip_prob: float, rng) -> tuple:
    """Database/queries of codes (packed) and floats from M real codes (see module doc)."""
    real, out = material["codes"], material["outputs"]
    m = real.shape[0]
    src = np.arange(n) % m
    db_bits = real[src]
    copies = np.arange(n) >= m
    db_bits[copies] = _flip_bits(db_bits[copies], flip_prob, rng)
    q_src = rng.integers(0, m, nq)
    q_bits = _flip_bits(real[q_src], flip_prob, rng)
    std = out.std(axis=0, keepdims=True) + 1e-12
    db_float = out[src] + copies[:, None] * rng.standard_normal((n, out.shape[1]), dtype=np.float32) * flip_prob * std
    q_float = out[q_src] + rng.standard_normal((nq, out.shape[1]), dtype=np.float32) * flip_prob * std
    for x in (db_float, q_float):
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return (
        np.packbits(db_bits, axis=1),
        np.packbits(q_bits, axis=1),
        np.ascontiguousarray(db_float, dtype=np.float32),
        np.ascontiguousarray(q_float, dtype=np.float32),
    )


def run_search_bench(
    *,
    n=1_000_000,
    queries=1000,
    k=100,
    bits=(12, 24, 32, 48),
    source="random",
    runs=None,
    images=None,
    views=8,
    max_images=None,
    flip_prob=0.05,
    float_dim=500,
    seed=0,
    numpy_budget_s=4.0,
    float_budget_s=6.0,
    hash_b=None,
    hash_nflip=1,
    batch_size=64,
    threads=None,
    log=print,
) -> dict:
    """Run the benchmark; returns ``{"config", "rows", "ratios", "notes"}`` (JSON-able)."""

    if n < 1 or queries < 1 or k < 1:
        raise ConfigError(f"--n, --queries and --k must be >= 1 (got {n}, {queries}, {k})")
    import faiss

    if threads:
        faiss.omp_set_num_threads(int(threads))
    rng = np.random.default_rng(seed)
    hash_options = {"b": hash_b, "nflip": hash_nflip}
    rows: list[dict] = []
    notes: list[str] = []
    config = {
        "n": n,
        "queries": queries,
        "k": k,
        "source": source,
        "seed": seed,
        "cpu_count": os.cpu_count(),
        "threads": faiss.omp_get_max_threads(),
        "load_average": load_average(),
        "flip_prob": flip_prob if source == "ucm" else None,
    }
    if source == "random":
        config["bits"] = list(bits)
        config["float_dim"] = float_dim
        log(f"random float database: {n} x {float_dim} float32 unit vectors")
        float_row = _bench_float(
            _random_unit_float(rng, n, float_dim), _random_unit_float(rng, queries, float_dim), k, float_budget_s, log
        )
        notes.append(
            f"source random: codes uniform in {{0,1}}^bits, queries likewise; float baseline = "
            f"{n} random unit vectors in D={float_dim} (the hash head's hidden width), "
            "one float database for all code lengths"
        )
        for b in bits:
            db, q = random_packed_codes(rng, n, b), random_packed_codes(rng, queries, b)
            code_rows, _ = _bench_codes(db, q, b, k, numpy_budget_s, hash_options, log)
            rows.extend(code_rows)
            rows.append(dict(float_row, bits=b))
    elif source == "ucm":
        if not runs or not images:
            raise ConfigError("--source ucm needs --run RUN_DIR [RUN_DIR ...] and --images DIR")
        config.update(runs=[str(r) for r in runs], images=str(images), views=views)
        for run_dir in runs:
            material = encode_augmented_views(run_dir, images, views, max_images, batch_size, rng, log)
            b, m = material["bits"], material["codes"].shape[0]
            db, q, db_float, q_float = _tile(material, n, queries, flip_prob, rng)
            notes.append(
                f"source ucm, run {run_dir} ({b} bits): {material['images']} real images x {views} augmented views "
                "(dihedral x brightness/contrast jitter 0.9-1.1) encoded at "
                f"{material['encode_images_per_s']:.1f} images/s "
                f"= M={m} real codes; database = the M codes tiled to n={n}, every copy after the first with "
                f"each bit flipped with p={flip_prob} (float outputs D={material['outputs'].shape[1]}: Gaussian "
                f"noise {flip_prob} x std); queries = random real codes perturbed the same way"
            )
            code_rows, _ = _bench_codes(db, q, b, k, numpy_budget_s, hash_options, log)
            rows.extend(code_rows)
            rows.append(dict(_bench_float(db_float, q_float, k, float_budget_s, log), bits=b))
    else:
        raise ConfigError(f"--source must be random or ucm, got {source!r}")
    subset = sorted({r["backend"].split(" (")[0] for r in rows if r["queries_timed"] < queries})
    if subset:
        notes.append(
            f"{', '.join(subset)} timed on the first queries only (column 'queries timed'), "
            "a prefix sized to run a few seconds"
        )
    return {"config": config, "rows": rows, "ratios": _ratios(rows), "notes": notes}


def _ratios(rows: list[dict]) -> list[dict]:
    out = []
    for b in sorted({r["bits"] for r in rows}):
        by = {r["backend"]: r for r in rows if r["bits"] == b}
        flt = next(r for r in rows if r["bits"] == b and r["backend"].startswith("float"))
        exact = by["faiss"]
        out.append(
            {
                "bits": b,
                "exact_queries_per_s": exact["queries_per_s"],
                "speedup_vs_float": exact["queries_per_s"] / flt["queries_per_s"],
                "memory_ratio_vs_float": flt["bytes_per_image"] / exact["bytes_per_image"],
                "memory_ratio_unpadded_vs_float": flt["bytes_per_image"] / by["faiss-unpadded"]["bytes_per_image"],
                "speedup_vs_numpy": exact["queries_per_s"] / by["numpy"]["queries_per_s"],
            }
        )
    return out


SEARCH_NOTE = (
    "queries/s is wall-clock; queries/CPU-s divides by this process's CPU time (all threads), "
    "which is less sensitive to other processes."
)
SEARCH_COLUMNS = ["bits", "back-end", "exact", "bytes/image", "queries/s", "queries/CPU-s", "queries timed"]
SEARCH_COLUMNS += ["recall@k", "identical to faiss"]


def to_markdown(result: dict) -> str:
    """Markdown report: setup, table, ratios, targets."""
    c = result["config"]
    title = f"mlrsir bench search: n={c['n']}, queries={c['queries']}, top-{c['k']}, source={c['source']}"
    body = []
    for r in result["rows"]:
        recall = "-" if r["recall_at_k"] is None else f"{r['recall_at_k']:.3f}"
        same = "-" if r["identical_to_faiss"] is None else ("yes" if r["identical_to_faiss"] else "no")
        rates = [f"{r['queries_per_s']:.1f}", f"{r['queries_per_cpu_s']:.1f}", r["queries_timed"]]
        body.append(
            [r["bits"], r["backend"], "yes" if r["exact"] else "no", r["bytes_per_image"], *rates, recall, same]
        )
    lines = report_header(title, c, SEARCH_NOTE) + [markdown_table(SEARCH_COLUMNS, body, align_right_from=3)]
    lines += ["", "Ratios of the exact back-end (faiss, padded codes):", ""]
    for q in result["ratios"]:
        lines.append(
            f"- {q['bits']} bits: {q['speedup_vs_float']:.1f}x faster than float search, "
            f"{q['memory_ratio_vs_float']:.0f}x smaller ({q['memory_ratio_unpadded_vs_float']:.0f}x unpadded), "
            f"{q['speedup_vs_numpy']:.0f}x faster than numpy popcount"
        )
    at48 = [q for q in result["ratios"] if q["bits"] == 48]
    if at48 and c["n"] >= 1_000_000:
        q = at48[0]
        ok = (q["exact_queries_per_s"] >= 1000, q["speedup_vs_float"] >= 5, q["memory_ratio_vs_float"] >= 100)
        lines += [
            "",
            f"Targets at 48 bits over {c['n']} codes: >= 1000 queries/s {'met' if ok[0] else 'NOT met'} "
            f"({q['exact_queries_per_s']:.0f}); >= 5x faster than float {'met' if ok[1] else 'NOT met'}; "
            f">= 100x smaller {'met' if ok[2] else 'NOT met'}.",
        ]
    lines += ["", "Notes:", ""] + [f"- {note}" for note in result["notes"]]
    lines.append(
        "- recall@k of the hash back-end: the fraction of the exact top-k distances (a multiset) that the "
        "returned distances match (mlrsir.metrics.recall.recall_at_k_of_results; any member of a tied group is right)."
    )
    return "\n".join(lines) + "\n"
