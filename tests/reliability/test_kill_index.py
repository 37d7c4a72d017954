"""SIGKILL during index writes: the index always opens, as before or as after, nothing lost.

Each cycle removes a random handful of images from the index (so there is work to do),
starts ``mlrsir index add --images POOL --batch-size 1`` in a child process (chunks of 4
images, each chunk one SQLite transaction), kills it with SIGKILL after a random delay
and then checks, with a full verification on open (item checksum + ``PRAGMA
quick_check``):

* the index opens (read-only as the web server would, then for writing);
* every item stored before the kill is still there with the same id, path and code
  (no loss);
* the new items are exactly whole chunks: the first ``4 m`` images of the work list for
  some ``m`` ("as before" when ``m = 0``, "as after" when all), never a partial chunk,
  and each new code is the fake encoder's code of its file.

Every third cycle kills ``index remove`` instead (one transaction: all or none).
Inside the child, every row checksum sleeps ``SLOW_COMMIT`` seconds so that a good share
of the kills land inside an open write transaction, not only between transactions.

The main test forks the children from the test process (a fresh interpreter costs ~3 s
of torch import through ``mlrsir.codes``); ``test_sigkill_fresh_cli_process`` runs the
same check a few times with a real ``python -m tests.reliability.index_worker``.
``MLRSIR_KILLS`` (default 20) sets the number of kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mlrsir.index.store import CodeIndex
from tests.fakes.encoder import FakeEncoder, make_run, quadrant_code, write_image

REPO = Path(__file__).resolve().parents[2]
POOL_SIZE = 40
CHUNK = 4  # 4 * --batch-size 1
SLOW_COMMIT = 0.002


def _make_pool(tmp: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    pool = tmp / "pool"
    for i in range(POOL_SIZE):
        colours = [tuple(int(x) for x in rng.integers(0, 256, 3)) for _ in range(4)]
        write_image(pool / f"img{i:03d}.png", colours, fmt="PNG")
    expected = {str(p.resolve()): quadrant_code(Image.open(p))[0] for p in sorted(pool.iterdir())}
    return pool, make_run(tmp / "run"), expected


def _snapshot(index_dir: Path, readonly: bool) -> dict[str, tuple[int, bytes]]:
    """``{path: (id, code bytes)}`` after a fully verified open (raises on any damage)."""
    with CodeIndex.open(index_dir, readonly=readonly, verify=True) as index:
        ids = index.ids()
        codes = index.codes()
        out = {index.get(int(i))["path"]: (int(i), codes[k].tobytes()) for k, i in enumerate(ids)}
        assert len(index) == len(out)
    return out


def _child(argv: list[str]) -> None:
    """Body of a forked child: the CLI with the fake encoder and slowed row checksums."""
    import threading
    import types

    from tqdm import tqdm

    from mlrsir.cli.main import main
    from mlrsir.index import integrity

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # tqdm's write lock holds a multiprocessing semaphore shared with the parent after fork: a
    # child killed while printing progress would leave it taken and the next bar of the test
    # process waiting forever. The child gets a lock of its own.
    tqdm.set_lock(threading.RLock())
    import mlrsir.inference

    # a stand-in module (also replacing a real one this forked process may have inherited)
    module = types.ModuleType("mlrsir.inference.encoder")
    module.load_encoder = FakeEncoder
    sys.modules["mlrsir.inference.encoder"] = module
    mlrsir.inference.encoder = module
    real = integrity.row_digest

    def slow(*args):
        time.sleep(SLOW_COMMIT)
        return real(*args)

    integrity.row_digest = slow
    code = 1
    try:
        code = main(argv)
    finally:
        os._exit(code)


def _fork_and_kill(argv: list[str], delay: float | None) -> tuple[bool, float]:
    """Run the CLI in a forked child; SIGKILL it after ``delay`` s (None: let it finish).

    Returns ``(killed, seconds the child ran)``."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            _child(argv)
        finally:
            os._exit(3)
    if delay is None:
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child failed on its own"
        return False, time.perf_counter() - t0
    time.sleep(delay)
    finished, status = os.waitpid(pid, os.WNOHANG)
    if finished:
        assert os.waitstatus_to_exitcode(status) == 0, "the child failed on its own"
        return False, time.perf_counter() - t0
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, time.perf_counter() - t0


def _check_after(before: dict, after: dict, todo: list[str], expected: dict, removing: list[str] | None) -> str:
    """Assert the no-loss / all-or-nothing rules; return "before", "partial" or "after"."""
    if removing is not None:  # remove: one transaction
        kept = {p: v for p, v in before.items() if p not in removing}
        assert after in (before, kept), "a killed remove left a partial state"
        return "before" if after == before else "after"
    lost = [p for p, v in before.items() if after.get(p) != v]
    assert not lost, f"items stored before the kill were lost or changed: {lost[:3]}"
    new = [p for p in after if p not in before]
    assert set(new) == set(todo[: len(new)]), "new items are not a prefix of the work list"
    assert len(new) % CHUNK == 0 or len(new) == len(todo), f"half-written chunk: {len(new)} new items"
    for p in new:
        assert after[p][1] == expected[p].astype(np.uint8).tobytes(), f"wrong code stored for {p}"
    return "before" if not new else ("after" if len(new) == len(todo) else "partial")


def run_kill_cycles(tmp: Path, kills: int, launcher, time_budget: float) -> dict:
    """Kill ``index add``/``index remove`` until ``kills`` kills (or the time budget)."""
    pool, run, expected = _make_pool(tmp)
    ix = tmp / "ix"
    launcher(
        [
            "index",
            "build",
            "--run",
            str(run),
            "--images",
            str(pool),
            "--index",
            str(ix),
            "--batch-size",
            "1",
            "--quiet",
        ],
        None,
    )
    rng = np.random.default_rng(0)
    counts = {
        "kills": 0,
        "cycles": 0,
        "opens": 0,
        "losses": 0,
        "finished_before_kill": 0,
        "before": 0,
        "partial": 0,
        "after": 0,
    }
    # calibrate: how long an uninterrupted add of ~12 images takes
    state = _snapshot(ix, readonly=False)
    with CodeIndex.open(ix) as index:
        index.remove([state[p][0] for p in sorted(state)[:12]])
    _, typical = launcher(
        ["index", "add", "--index", str(ix), "--images", str(pool), "--batch-size", "1", "--quiet"], None
    )
    typical = max(typical, 0.02)
    counts["typical_add_seconds"] = round(typical, 3)
    deadline = time.perf_counter() + time_budget
    while counts["kills"] < kills and time.perf_counter() < deadline:
        counts["cycles"] += 1
        before = _snapshot(ix, readonly=False)
        removing = None
        if counts["cycles"] % 3 == 0 and before:
            removing = sorted(rng.choice(sorted(before), size=min(len(before), 6), replace=False).tolist())
            argv = ["index", "remove", "--index", str(ix), "--ids", *[str(before[p][0]) for p in removing]]
        else:
            drop = rng.choice(sorted(before), size=min(len(before), int(rng.integers(4, 16))), replace=False)
            with CodeIndex.open(ix) as index:
                index.remove([before[p][0] for p in drop])
            before = _snapshot(ix, readonly=False)
            argv = ["index", "add", "--index", str(ix), "--images", str(pool), "--batch-size", "1", "--quiet"]
        todo = [p for p in expected if p not in before]  # list_images order == sorted names here
        killed, _ = launcher(argv, float(rng.uniform(0.0, 1.3 * typical)))
        counts["kills"] += bool(killed)
        counts["finished_before_kill"] += not killed
        try:
            _snapshot(ix, readonly=True)
            after = _snapshot(ix, readonly=False)
            counts["opens"] += 1
        except Exception:
            counts["losses"] += 1
            raise
        counts[_check_after(before, after, todo, expected, removing)] += 1
    return counts


def test_sigkill_during_index_writes(tmp_path):
    # 20 kills by default (MLRSIR_KILLS=200 for a long soak); time-bounded so that a loaded
    # machine gives fewer kills rather than a slow suite
    kills = int(os.environ.get("MLRSIR_KILLS", "20"))
    counts = run_kill_cycles(tmp_path, kills, _fork_and_kill, time_budget=max(30.0, kills * 1.5))
    print(f"\nSIGKILL test: {counts}")
    assert counts["kills"] >= min(kills, 5), counts
    assert counts["opens"] == counts["cycles"] and counts["losses"] == 0
    assert counts["partial"] + counts["before"] + counts["after"] == counts["cycles"]
    assert counts["partial"] > 0 and counts["before"] > 0  # kills really landed mid-run


def _fresh_process(argv: list[str], delay: float | None) -> tuple[bool, float]:
    """``python -m tests.reliability.index_worker``: a real new interpreter and the real CLI;
    the delay counts from the worker's READY line (imports done)."""
    cmd = [sys.executable, "-m", "tests.reliability.index_worker", "--slow-commit", str(SLOW_COMMIT), "--", *argv]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "READY"  # imports (torch via mlrsir.codes) done
    t0 = time.perf_counter()
    if delay is None:
        assert proc.wait(timeout=120) == 0
        return False, time.perf_counter() - t0
    time.sleep(delay)
    if proc.poll() is not None:
        assert proc.returncode == 0
        return False, time.perf_counter() - t0
    proc.send_signal(signal.SIGKILL)
    return proc.wait(timeout=30) == -signal.SIGKILL, time.perf_counter() - t0


def test_sigkill_fresh_cli_process(tmp_path):
    counts = run_kill_cycles(tmp_path, 2, _fresh_process, time_budget=20.0)
    print(f"\nSIGKILL test (fresh interpreters): {counts}")
    assert counts["kills"] >= 1 and counts["losses"] == 0 and counts["opens"] == counts["cycles"]
