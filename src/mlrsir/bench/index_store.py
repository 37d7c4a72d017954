"""The whole index at scale: ``mlrsir bench index-store``.

Builds a format 3 :class:`~mlrsir.index.store.CodeIndex` of ``n`` generated items (SQLite
metadata + code files, :mod:`mlrsir.index.codefile`) and measures what a deployment pays:

* insert: ``add_packed`` in chunks of ``chunk`` items (one transaction each), rows/s;
* sizes: the SQLite file, the code and id files, bytes per item;
* writable open (it runs ``PRAGMA integrity_check``), the saved IVF (build + write seconds,
  file bytes) as ``mlrsir index build`` saves it from 2e6 items;
* in fresh processes (so resident memory is the index's, not this process's): open
  seconds and resident MB at open, first search seconds (``flat`` over the mapped codes,
  ``ivf`` from the saved file, memory-mapped) and resident MB after it, peak;
* serve ready: seconds from starting a server process (uvicorn + :func:`mlrsir.web.app.create_app`,
  with a stand-in encoder carrying the index's fingerprint, or the real ``mlrsir serve``
  with ``--run``) until ``POST /api/search`` by ``item_id`` answers, and its resident MB;
* the full verification (``verify=True``: integrity_check, block checksums, item checksum)
  and the path-index comparison of ``--verify``;
* small writes at scale: add / remove of ``small`` items, compaction, refreshing the
  saved IVF.

Items: paths ``/data/archive/scenes/S2_<i // 10000>/tile_<i>.tif`` (48 bytes), 256 x 256,
one to three UCM labels; codes ``random`` (uniform) or ``realistic`` (real codes grown by
per-bit flips, :mod:`mlrsir.bench.realistic`). The result includes a linear extrapolation
to 1e8 items of the quantities that grow linearly, marked as extrapolated.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from mlrsir.bench.machine import load_average, load_sentence
from mlrsir.bench.process_memory import peak_rss_mib, rss_mib, status_mib
from mlrsir.bench.realistic import make_codes
from mlrsir.bench.server import post_json, serve_command, started_server
from mlrsir.errors import ConfigError
from mlrsir.index import integrity, saved
from mlrsir.index.backends import FaissIVFBackend, make_backend
from mlrsir.index.store import CodeIndex
from mlrsir.inference.encoder import load_encoder
from mlrsir.web.app import create_app

LABELS = (
    "airplane bare-soil buildings cars chaparral court dock field grass mobile-home pavement sand sea ship "
    "tanks trees water"
).split()


def _records(start: int, size: int) -> list[dict]:
    out = []
    for i in range(start, start + size):
        labels = [LABELS[i % 17]]
        if i % 3:
            labels.append(LABELS[(i * 7 + 3) % 17])
        if i % 5 == 0:
            labels.append(LABELS[(i * 11 + 5) % 17])
        out.append(
            {
                "path": f"/data/archive/scenes/S2_{i // 10000:06d}/tile_{i:09d}.tif",
                "width": 256,
                "height": 256,
                "labels": labels,
            }
        )
    return out


def _generate(kind: str, n: int, bits: int, rng, real) -> tuple[np.ndarray, np.ndarray]:
    db, q, _note = make_codes(kind, n, 16, bits, rng, real or {})
    return db, q


def _child(args: list[str], timeout: float) -> dict:
    """Run ``python -m mlrsir.bench.index_store ARGS`` and return the JSON it prints last."""
    proc = subprocess.run(
        [sys.executable, "-m", "mlrsir.bench.index_store", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise ConfigError(f"measurement child {args[0]} failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_index_store_bench(
    directory,
    *,
    n: int,
    bits: int = 48,
    codes: str = "realistic",
    real=None,
    chunk: int = 1_000_000,
    ivf_nlist: int | None = 1024,
    small: int = 10_000,
    verify: bool = True,
    serve_run: str | None = None,
    seed: int = 0,
    threads: int = 1,
    timeout: float = 3600.0,
    log=print,
) -> dict:
    """Build and measure (module doc); ``directory`` must not hold an index yet (it is
    created, and left in place). ``threads``: faiss/OpenMP threads here and in the
    measured processes (default 1: on a shared, loaded machine 2 OpenMP threads spin
    waiting for each other; an IVF of 2e4 codes took 15 s with 2, 0.04 s with 1).
    Returns a JSON-able dict."""
    import faiss

    faiss.omp_set_num_threads(int(threads))
    os.environ["OMP_NUM_THREADS"] = str(int(threads))  # the children inherit it
    directory = Path(directory)
    if (directory / "index.sqlite").exists():
        raise ConfigError(f"{directory}: already holds an index; give an empty folder")
    out: dict = {
        "n": int(n),
        "bits": int(bits),
        "codes": codes,
        "chunk": int(chunk),
        "cpu_count": os.cpu_count(),
        "threads": int(threads),
        "load_average_start": load_average(),
        "directory": str(directory),
    }
    rng = np.random.default_rng([seed, n, bits])
    t0 = time.perf_counter()
    db, queries = _generate(codes, n, bits, rng, real)
    out["generate_s"] = time.perf_counter() - t0
    log(f"index-store n={n}: {codes} {bits}-bit codes generated in {out['generate_s']:.1f} s")

    fingerprint = {"bits": bits, "bench": "index-store", "codes": codes}
    if serve_run:
        fingerprint = dict(load_encoder(serve_run).fingerprint)
    t0 = time.perf_counter()
    index = CodeIndex.create(
        directory, bits=bits, fingerprint=fingerprint, run_dir=serve_run, classes=list(LABELS), images_root="/data"
    )
    chunks = []
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        records = _records(start, size)
        t1 = time.perf_counter()
        index.add_packed(records, db[start : start + size])
        chunks.append(time.perf_counter() - t1)
        if len(chunks) == 1 or len(chunks) % 5 == 0 or start + size == n:
            log(
                f"  inserted {start + size} items, {time.perf_counter() - t0:.0f} s "
                f"(last chunk {size / chunks[-1]:.0f} rows/s in add)"
            )
    index.close()
    out["insert_s"] = time.perf_counter() - t0
    out["insert_add_s"] = float(sum(chunks))
    out["insert_rows_per_s"] = n / out["insert_s"]
    out["insert_add_rows_per_s"] = n / out["insert_add_s"]
    del db
    gc.collect()
    sizes = {f.name: f.stat().st_size for f in directory.iterdir() if f.is_file()}
    out["files"] = sizes
    out["sqlite_bytes"] = sum(v for k, v in sizes.items() if k.startswith("index.sqlite"))
    out["codes_bytes"] = sum(v for k, v in sizes.items() if k.startswith("codes."))
    out["ids_bytes"] = sum(v for k, v in sizes.items() if k.startswith("ids."))
    total = out["sqlite_bytes"] + out["codes_bytes"] + out["ids_bytes"]
    out["bytes_per_item"] = {
        "sqlite": out["sqlite_bytes"] / n,
        "codes": out["codes_bytes"] / n,
        "ids": out["ids_bytes"] / n,
        "total": total / n,
    }
    log(
        f"  insert {out['insert_s']:.0f} s ({out['insert_rows_per_s']:.0f} rows/s); SQLite "
        f"{out['sqlite_bytes'] / 2**20:.0f} MiB, codes {out['codes_bytes'] / 2**20:.0f} MiB, ids "
        f"{out['ids_bytes'] / 2**20:.0f} MiB: {total / n:.1f} bytes/item"
    )

    t0 = time.perf_counter()
    index = CodeIndex.open(directory, verify=False)
    out["open_write_s"] = time.perf_counter() - t0
    log(f"  writable open (PRAGMA integrity_check) {out['open_write_s']:.1f} s")
    t0 = time.perf_counter()
    tag = index.save_search_structure(nlist=ivf_nlist)
    assert tag is not None
    out["ivf_save_s"] = time.perf_counter() - t0
    out["ivf"] = {k: tag[k] for k in ("file", "nlist", "ntotal", "bytes")}
    index.close()

    t0 = time.perf_counter()
    saved.file_sha256(directory / tag["file"])
    out["ivf_sha256_s"] = time.perf_counter() - t0
    log(
        f"  IVF ({tag['nlist']} cells) built and saved in {out['ivf_save_s']:.0f} s, "
        f"{tag['bytes'] / 2**20:.0f} MiB (sha256 {out['ivf_sha256_s']:.1f} s)"
    )
    np.save(directory.parent / f".{directory.name}-queries.npy", queries)
    qfile = str(directory.parent / f".{directory.name}-queries.npy")

    out["probes"] = {}
    for backend in ("flat", "ivf"):
        out["probes"][backend] = _child(["probe", str(directory), backend, qfile], timeout)
        p = out["probes"][backend]
        log(
            f"  fresh process, {backend}: open {p['open_s']:.2f} s (+{p['rss_open_mb']:.0f} MiB), first search "
            f"{p['first_search_s']:.2f} s, resident after {p['rss_after_mb']:.0f} MiB "
            f"(+{p['rss_search_mb']:.0f}; anon {p['anon_after_mb']:.0f}, file {p['file_after_mb']:.0f}), "
            f"next searches {p['next_search_ms']:.1f} ms" + (" (saved IVF memory-mapped)" if p["mmapped"] else "")
        )
    out["serve"] = measure_serve_ready(
        directory, fingerprint, bits, serve_run, item_id=max(1, n // 2), timeout=min(timeout, 900)
    )
    log(
        f"  serve ready {out['serve']['ready_s']:.1f} s (health {out['serve']['health_s']:.1f} s), "
        f"resident {out['serve']['rss_mb']:.0f} MiB"
    )
    if verify:
        out["verify"] = _child(["verify", str(directory)], timeout)
        log(f"  full verification {out['verify']['verify_s']:.0f} s, path index {out['verify']['deep_s']:.0f} s")
    out["small_writes"] = _small_writes(directory, n, small, bits, rng, log)
    out["load_average_end"] = load_average()
    out["extrapolated_1e8"] = extrapolate(out, 100_000_000)
    Path(qfile).unlink(missing_ok=True)
    return out


def run_saved_ivf_bench(
    directory,
    *,
    n: int,
    bits: int = 48,
    codes: str = "realistic",
    real=None,
    nlist: int = 1024,
    seed: int = 0,
    threads: int = 1,
    timeout: float = 3600.0,
    log=print,
) -> dict:
    """The saved search structure alone (``--ivf-only``): build the IVF of ``n`` generated
    codes with ids ``1..n`` as :meth:`CodeIndex.save_search_structure` would, save it
    (:func:`mlrsir.index.saved.save`), then in fresh processes load it as a server does
    (sha256 check + ``IO_FLAG_MMAP``; and read into memory, as when it must be brought up
    to date) and time the first search, with resident memory. No SQLite, no code files."""
    import faiss

    faiss.omp_set_num_threads(int(threads))
    os.environ["OMP_NUM_THREADS"] = str(int(threads))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out: dict = {"n": int(n), "bits": int(bits), "codes": codes, "nlist": int(nlist), "threads": int(threads)}
    out["load_average_start"] = load_average()
    rng = np.random.default_rng([seed, n, bits])
    t0 = time.perf_counter()
    db, queries = _generate(codes, n, bits, rng, real)
    out["generate_s"] = time.perf_counter() - t0
    log(f"saved-ivf n={n}: codes generated in {out['generate_s']:.0f} s")
    t0 = time.perf_counter()
    engine = make_backend("ivf", bits, n=n, nlist=nlist).build(db, np.arange(1, n + 1, dtype=np.int64))
    out["build_s"] = time.perf_counter() - t0
    del db
    gc.collect()
    t0 = time.perf_counter()
    tag = saved.save(directory, engine, generation=1, next_id=n + 1)
    out["save_s"] = time.perf_counter() - t0
    out["bytes"] = tag["bytes"]
    del engine
    gc.collect()
    log(f"  built in {out['build_s']:.0f} s, saved in {out['save_s']:.0f} s ({tag['bytes'] / 2**20:.0f} MiB)")
    qfile = directory / "queries.npy"
    np.save(qfile, queries)
    for mode in ("mmap", "memory"):
        out[mode] = _child(["ivfload", str(directory), str(bits), str(qfile), mode], timeout)
        r = out[mode]
        log(
            f"  fresh process, {mode}: sha256 {r['sha256_s']:.1f} s, read {r['read_s']:.1f} s, first search "
            f"{r['first_search_s']:.2f} s, resident +{r['rss_delta_mb']:.0f} MiB (anon {r['anon_after_mb']:.0f}, "
            f"file {r['file_after_mb']:.0f}), peak {r['peak_rss_mb']:.0f} MiB, then {r['next_search_ms']:.1f} ms/query"
        )
    out["load_average_end"] = load_average()
    return out


def _ivfload(directory: str, bits: str, qfile: str, mode: str) -> dict:
    import faiss  # noqa: F401  (imports first: the baseline is the interpreter with its libraries)

    base = status_mib()
    tag = saved.tags(Path(directory))[0]
    t0 = time.perf_counter()
    path = saved.check_file(Path(directory), tag)
    sha_s = time.perf_counter() - t0
    assert path is not None
    t0 = time.perf_counter()
    engine = FaissIVFBackend.load(path, int(bits), mmap=mode == "mmap")
    read_s = time.perf_counter() - t0
    queries = np.load(qfile)
    t0 = time.perf_counter()
    engine.search(queries[:1], k=100)
    first = time.perf_counter() - t0
    after = status_mib()
    t0 = time.perf_counter()
    engine.search(queries[1:], k=100)
    next_ms = (time.perf_counter() - t0) / max(1, len(queries) - 1) * 1000
    end = status_mib()
    return {
        "mode": mode,
        "sha256_s": sha_s,
        "read_s": read_s,
        "first_search_s": first,
        "ready_s": sha_s + read_s + first,
        "rss_base_mb": base["VmRSS"],
        "rss_delta_mb": after["VmRSS"] - base["VmRSS"],
        "rss_delta_after_queries_mb": end["VmRSS"] - base["VmRSS"],
        "anon_after_mb": end["RssAnon"],
        "file_after_mb": end["RssFile"],
        "peak_rss_mb": end["VmHWM"],
        "next_search_ms": next_ms,
    }


def _small_writes(directory: Path, n: int, small: int, bits: int, rng, log) -> dict:

    res: dict = {"items": small}
    with CodeIndex.open(directory, verify=False) as index:
        packed = rng.integers(0, 256, (small, (bits + 7) // 8), dtype=np.uint8)
        t0 = time.perf_counter()
        ids = index.add_packed(_records(n, small), packed)
        res["add_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res["removed"] = index.remove(ids[: small // 2] + list(range(1, 1 + small // 2)))
        res["remove_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tag = index.save_search_structure()
        res["ivf_refresh_s"] = time.perf_counter() - t0  # load saved, bring up to date, save
        res["ivf_refresh_ntotal"] = None if tag is None else tag["ntotal"]
        t0 = time.perf_counter()
        res["compact"] = index.compact()
        res["compact_s"] = time.perf_counter() - t0
    log(
        f"  small writes ({small}): add {res['add_s']:.1f} s, remove {res['remove_s']:.1f} s, IVF refresh "
        f"{res['ivf_refresh_s']:.1f} s, compact {res['compact_s']:.1f} s"
    )
    return res


def extrapolate(out: dict, target: int) -> dict:
    """Linear extrapolation of the quantities that grow with n (marked as such)."""
    f = target / out["n"]
    res: dict = {"n": target, "note": f"linear extrapolation x{f:g} from n={out['n']}, not measured"}
    for key in ("insert_s", "sqlite_bytes", "codes_bytes", "ids_bytes", "open_write_s", "ivf_sha256_s"):
        if key in out:
            res[key] = out[key] * f
    res["ivf_bytes"] = out["ivf"]["bytes"] * f
    if "verify" in out:
        res["verify_s"] = out["verify"]["verify_s"] * f
        res["deep_s"] = out["verify"]["deep_s"] * f
    # serve ready: the constant part (imports, app) plus the sha256 of the IVF file, x f
    serve = out["serve"]["ready_s"]
    res["serve_ready_s"] = serve + out["ivf_sha256_s"] * (f - 1)
    res["serve_ready_note"] = (
        "measured serve-ready time plus the IVF file's sha256 (the only step linear in n before the first "
        "search; the lists are memory-mapped) scaled from the measured hash time (page cache, not a cold disk)"
    )
    return res


def measure_serve_ready(
    directory: Path, fingerprint: dict, bits: int, run: str | None, item_id: int, timeout: float
) -> dict:
    """Seconds from starting a server process until its first search answers."""

    def stand_in(port: int) -> list[str]:
        argv = [sys.executable, "-m", "mlrsir.bench.index_store", "serve", str(directory), str(port)]
        return argv + [json.dumps({"fingerprint": fingerprint, "bits": bits})]

    command = serve_command(directory, run) if run else stand_in
    t0 = time.perf_counter()
    with started_server(command, timeout, stderr=subprocess.PIPE) as server:
        health = time.perf_counter() - t0
        status, payload = post_json(server.url, "/api/search", {"item_id": int(item_id), "k": 24}, timeout)
        ready = time.perf_counter() - t0
        if status != 200:
            raise ConfigError(f"first search answered {status}: {payload}")
        return {
            "command": (
                "mlrsir serve (real encoder)" if run else "mlrsir.bench.index_store serve (stand-in encoder, uvicorn)"
            ),
            "health_s": health,
            "ready_s": ready,
            "results": len(payload.get("results", [])),
            "search_ms": payload.get("timing_ms", {}).get("search_ms"),
            "rss_mb": rss_mib(server.process.pid),
            "peak_rss_mb": peak_rss_mib(server.process.pid),
        }


def to_markdown(r: dict) -> str:
    """The figures of :func:`run_index_store_bench` as a Markdown table."""
    mib = 2**20
    rows = [
        ("items", f"{r['n']:,} ({r['bits']}-bit {r['codes']} codes)"),
        ("insert", f"{r['insert_s']:.0f} s, {r['insert_rows_per_s']:,.0f} rows/s ({r['chunk']:,} per transaction)"),
        ("SQLite (metadata)", f"{r['sqlite_bytes'] / mib:,.0f} MiB, {r['bytes_per_item']['sqlite']:.1f} B/item"),
        (
            "code + id files",
            f"{r['codes_bytes'] / mib:,.0f} + {r['ids_bytes'] / mib:,.0f} MiB, "
            f"{r['bytes_per_item']['codes'] + r['bytes_per_item']['ids']:.1f} B/item",
        ),
        ("whole index", f"{r['bytes_per_item']['total']:.1f} B/item"),
        ("writable open (integrity_check)", f"{r['open_write_s']:.1f} s"),
        (
            "saved IVF",
            f"{r['ivf']['nlist']} cells, {r['ivf']['bytes'] / mib:,.0f} MiB, built+saved {r['ivf_save_s']:.0f} s",
        ),
    ]
    for name, p in r["probes"].items():
        rows.append(
            (
                f"fresh process, {name}",
                f"open {p['open_s']:.2f} s (+{p['rss_open_mb']:.0f} MiB); first search {p['first_search_s']:.2f} s; "
                f"resident {p['rss_after_mb']:.0f} MiB (anon {p['anon_after_mb']:.0f}, file {p['file_after_mb']:.0f}); "
                f"then {p['next_search_ms']:.1f} ms/query",
            )
        )
    s = r["serve"]
    rows.append(("serve ready", f"{s['ready_s']:.1f} s ({s['command']}), resident {s['rss_mb']:.0f} MiB"))
    if "verify" in r:
        rows.append(
            ("full verification", f"{r['verify']['verify_s']:.0f} s (+ path index {r['verify']['deep_s']:.0f} s)")
        )
    w = r["small_writes"]
    rows.append(
        (
            f"small writes ({w['items']:,})",
            f"add {w['add_s']:.1f} s, remove {w['remove_s']:.1f} s, IVF refresh {w['ivf_refresh_s']:.1f} s, "
            f"compact {w['compact_s']:.1f} s",
        )
    )
    e = r["extrapolated_1e8"]
    rows.append(
        (
            "1e8 (extrapolated)",
            f"insert {e['insert_s'] / 3600:.1f} h, SQLite {e['sqlite_bytes'] / 2**30:.1f} GiB, codes+ids "
            f"{(e['codes_bytes'] + e['ids_bytes']) / 2**30:.1f} GiB, IVF {e['ivf_bytes'] / 2**30:.1f} GiB, "
            f"serve ready ~{e['serve_ready_s']:.0f} s",
        )
    )
    lines = [
        "| quantity | value |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        f"{load_sentence(r['load_average_start'], r['load_average_end'])} ({r['cpu_count']} CPU cores).",
    ]
    return "\n".join(lines) + "\n"


class _StandInEncoder:
    """Enough of an encoder for ``create_app`` and searches by item id (no model)."""

    retrieval = "hamming"
    runtime = "onnx"

    def __init__(self, bits: int, fingerprint: dict, classes=None):
        self.bits, self.fingerprint, self.classes, self.run_dir = int(bits), dict(fingerprint), classes, None

    def encode_images(self, images):  # pragma: no cover - uploads are not measured
        raise ConfigError("the stand-in encoder encodes nothing")

    def spatial_attention(self, image):  # pragma: no cover
        raise ConfigError("the stand-in encoder has no attention")


def _probe(directory: str, backend: str, qfile: str) -> dict:

    base = status_mib()
    t0 = time.perf_counter()
    index = CodeIndex.open(directory, readonly=True)
    open_s = time.perf_counter() - t0
    after_open = status_mib()
    queries = np.unpackbits(np.load(qfile), axis=1)[:, : index.bits]
    t0 = time.perf_counter()
    index.search(queries[:1], k=100, backend=backend)
    first = time.perf_counter() - t0
    after = status_mib()
    t0 = time.perf_counter()
    index.search(queries[1:], k=100, backend=backend)
    next_ms = (time.perf_counter() - t0) / max(1, len(queries) - 1) * 1000
    engine = index.cached_backend("ivf" if backend == "ivf" else "faiss")
    index.close()
    return {
        "backend": backend,
        "open_s": open_s,
        "rss_base_mb": base["VmRSS"],
        "rss_open_mb": after_open["VmRSS"] - base["VmRSS"],
        "first_search_s": first,
        "rss_after_mb": after["VmRSS"],
        "rss_search_mb": after["VmRSS"] - after_open["VmRSS"],
        "anon_after_mb": after["RssAnon"],
        "file_after_mb": after["RssFile"],
        "peak_rss_mb": after["VmHWM"],
        "next_search_ms": next_ms,
        "mmapped": bool(getattr(engine, "mmapped", False)),
    }


def _verify(directory: str) -> dict:

    t0 = time.perf_counter()
    index = CodeIndex.open(directory, readonly=True, verify=True)
    verify_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with index.catalogue.reading() as conn:
        integrity.compare_path_index(conn, index.db_path)
    deep_s = time.perf_counter() - t0
    index.close()
    return {"verify_s": verify_s, "deep_s": deep_s, "peak_rss_mb": status_mib()["VmHWM"]}


def _serve(directory: str, port: str, spec: str) -> None:
    import uvicorn  # noqa: PLC0415 (uvicorn only on this path)

    info = json.loads(spec)
    encoder = _StandInEncoder(info["bits"], info["fingerprint"], classes=list(LABELS))
    app = create_app(directory, encoder=encoder)
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning")


def main(argv: list[str]) -> int:
    """Children of the benchmark: ``probe DIR BACKEND QUERIES``, ``verify DIR``, ``serve DIR PORT SPEC``."""
    if argv[0] == "probe":
        print(json.dumps(_probe(argv[1], argv[2], argv[3])))
    elif argv[0] == "verify":
        print(json.dumps(_verify(argv[1])))
    elif argv[0] == "ivfload":
        print(json.dumps(_ivfload(argv[1], argv[2], argv[3], argv[4])))
    elif argv[0] == "serve":
        _serve(argv[1], argv[2], argv[3])
    else:
        raise SystemExit(f"unknown child {argv[0]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
