"""Remote ingest that survives the network: retries, a killed mlrsir, a killed server, 503
bursts, a truncated remote file, wrong S3 credentials.

Each fault gives a message naming the URL, leaves the index opening with a full verification
(nothing stored lost, every tile at most once), and the same command run again completes it:
every tile exactly once, codes equal to those of the local file. Builds that must not share
GDAL's process-wide HTTP cache with the test (a re-run of a URL whose content changed, a
SIGKILL) run in forked children (the pattern of ``tests/reliability/test_kill_index.py``); the
loopback server keeps running in the test process.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from mlrsir.cli.main import main
from mlrsir.errors import ConfigError
from mlrsir.geo import retry
from mlrsir.index import ingest_log
from mlrsir.index.store import CodeIndex
from tests.fakes.range_server import RangeServer
from tests.geo.test_remote_scenes import TILE, codes_by_window, synthetic_cog

TILES = 16  # 512 x 512 px in 128 px tiles


@pytest.fixture
def hash_run(monkeypatch, tmp_path):
    import mlrsir.inference.encoder as encoder_module
    from tests.fakes.encoder import make_run
    from tests.geo.test_index_scenes import PixelHashEncoder

    monkeypatch.setattr(encoder_module, "load_encoder", PixelHashEncoder)
    monkeypatch.setenv("MLRSIR_REMOTE_BACKOFF", "0.02")  # retries stay, their waits shrink
    monkeypatch.setenv("GDAL_HTTP_MAX_RETRY", "0")  # GDAL's own retries off: mlrsir's are tested
    return make_run(tmp_path / "run")


@pytest.fixture
def two_cogs(tmp_path) -> tuple[Path, list[Path]]:
    """Two 512 x 512 COGs (``a.tif`` and ``b.tif``, different pixels) in ``served/``."""
    folder = tmp_path / "served"
    folder.mkdir()
    a = synthetic_cog(folder).rename(folder / "a.tif")
    b = synthetic_cog(folder)
    b_path = folder / "b.tif"
    import rasterio

    with rasterio.open(b) as src:
        data, profile = src.read(), src.profile
    b.unlink()
    profile.update(driver="COG", blocksize=128, compress="deflate")
    profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
    with rasterio.open(b_path, "w", **profile) as dst:
        dst.write(data[::-1].copy())  # bands reversed: other codes
        for i, name in enumerate(("B04", "B03", "B02"), 1):
            dst.set_band_description(i, name)
    return folder, [a, b_path]


def build_argv(run: Path, urls: list[str], index: Path, *extra) -> list[str]:
    args = ["index", "build", "--run", str(run), "--images", *urls, "--index", str(index), "--tile", str(TILE)]
    return [*args, "--batch-size", "1", "--quiet", *map(str, extra)]


def forked(argv: list[str], out: Path, kill_when=None, timeout: float = 60.0, servers=()) -> int | None:
    """``mlrsir ARGV`` in a forked child (stdout and stderr to ``out``; the ``servers``' listening
    sockets closed in it); SIGKILL it as soon as ``kill_when()`` is true. Returns its exit
    status, or None when it was killed."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            for server in servers:
                server.close_in_fork()
            from tqdm import tqdm

            tqdm.set_lock(threading.RLock())  # the parent's semaphore is not ours (test_kill_index)
            import faulthandler
            import sys

            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            sys.stdout = sys.stderr = os.fdopen(fd, "w", buffering=1)  # pytest's capture is not fd 1
            faulthandler.dump_traceback_later(timeout - 5, exit=False, file=sys.stderr)  # a hang explains itself
            code = main(argv)
        finally:
            import sys

            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if kill_when is not None and kill_when():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.002)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"mlrsir {' '.join(argv)} did not end in {timeout} s")


def verified_windows(index_dir: Path) -> dict[str, list[str]]:
    """``{scene URL: [windows]}`` after a full verification on open (raises on any damage)."""
    with CodeIndex.open(index_dir, readonly=True, verify=True, deep=True) as index:
        paths = [index.get(int(i))["path"] for i in index.ids()]
    out: dict[str, list[str]] = {}
    for path in paths:
        scene, window = path.rsplit("#", 1)
        out.setdefault(scene, []).append(window)
    return out


def local_codes(run: Path, cogs: list[Path], tmp: Path) -> list[dict]:
    """Codes by window of each local COG (the reference)."""
    out = []
    for cog in cogs:
        assert main(build_argv(run, [str(cog)], tmp / f"local-{cog.stem}")) == 0
        out.append({w: c for w, (_s, c) in codes_by_window(tmp / f"local-{cog.stem}").items()})
    return out


def codes_of(index_dir: Path, url: str) -> dict:
    return {w: c for w, (s, c) in codes_by_window_all(index_dir).get(url, {}).items()}


def codes_by_window_all(index_dir: Path) -> dict[str, dict[str, tuple[str, bytes]]]:
    with CodeIndex.open(index_dir, readonly=True) as index:
        rows = list(index.iter_items())
    out: dict[str, dict] = {}
    for row in rows:
        scene, window = row["path"].rsplit("#", 1)
        out.setdefault(scene, {})[window] = (scene, row["code"])
    return out


# ---------------------------------------------------------------------------- the retry rule
def test_backoff_is_bounded_exponential_and_jittered():
    policy = retry.RetryPolicy(attempts=5, base_s=0.5, cap_s=1.5)
    rng = random.Random(0)
    bounds = [0.5, 1.0, 1.5, 1.5]  # min(cap, base * 2**(k-1)) for k = 1..4
    for k, bound in enumerate(bounds, 1):
        delays = [policy.delay(k, rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= bound
        assert max(delays) > 0.8 * bound and min(delays) < 0.2 * bound  # spread over [0, bound]: jittered
    assert policy.max_wait_s == pytest.approx(0.5 + 1.0 + 1.5 + 1.5)


def test_with_retries_counts_attempts_and_stops_on_permanent():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise OSError("IReadBlock failed: TIFFReadEncodedTile() failed")
        return "ok"

    policy = retry.RetryPolicy(attempts=4, base_s=0.1, cap_s=1.0)
    before = retry.STATS.retries
    assert retry.with_retries(flaky, (OSError,), policy=policy, sleep=waits.append) == "ok"
    assert len(calls) == 3 and len(waits) == 2 and all(0 <= w <= 0.2 for w in waits)
    assert retry.STATS.retries - before == 2  # what the progress lines report
    calls.clear()
    with pytest.raises(OSError):  # gives up after `attempts` tries
        retry.with_retries(
            lambda: calls.append(1) or (_ for _ in ()).throw(OSError("x")),
            (OSError,),
            policy=policy,
            sleep=lambda s: None,
        )
    assert len(calls) == 4
    calls.clear()

    def refused():
        calls.append(1)
        raise OSError("HTTP response code: 404")

    with pytest.raises(OSError):
        retry.with_retries(
            refused,
            (OSError,),
            policy=policy,
            retry_if=lambda exc: not retry.permanent(str(exc)),
            sleep=lambda s: None,
        )
    assert len(calls) == 1  # a 404 is not retried
    assert retry.permanent("(HTTP 403)") and retry.permanent("InvalidAccessKeyId")
    assert not retry.permanent("HTTP response code: 503") and not retry.permanent("Connection refused")


def test_retry_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("MLRSIR_REMOTE_ATTEMPTS", "2")
    monkeypatch.setenv("MLRSIR_REMOTE_BACKOFF", "0.25")
    assert retry.retry_policy() == retry.RetryPolicy(2, 0.25, retry.DEFAULT_CAP_S)
    monkeypatch.setenv("MLRSIR_REMOTE_ATTEMPTS", "0")
    with pytest.raises(ConfigError, match=r"MLRSIR_REMOTE_ATTEMPTS='0': must be >= 1"):
        retry.retry_policy()


# ---------------------------------------------------------------------------- faults
def test_503_burst_is_retried_and_a_longer_one_named_then_rerun_completes(hash_run, two_cogs, tmp_path, capsys):
    folder, cogs = two_cogs
    expected = local_codes(hash_run, cogs, tmp_path)
    with RangeServer(folder) as server:
        urls = [server.url(c.name) for c in cogs]
        server.fail_next("b.tif", 2, 503, after=3)  # a short burst mid-scene: retried, nothing lost
        assert main(build_argv(hash_run, urls, tmp_path / "ix", "--io-workers", 0)) == 0
        assert [codes_of(tmp_path / "ix", u) for u in urls] == expected
        capsys.readouterr()
        # a burst longer than the retries (4 attempts): the scene is named and skipped
        server.fail_next("b.tif", 1000, 503)
        other = [server.url("a.tif") + "?2", server.url("b.tif") + "?2"]  # new URLs: not in GDAL's cache
        assert main(build_argv(hash_run, other, tmp_path / "ix2", "--io-workers", 2)) == 3
        out = capsys.readouterr().out
        assert f"skipped {other[1]}: remote raster" in out and "retries)" in out
        assert verified_windows(tmp_path / "ix2").keys() == {other[0]}
        with server._lock:
            server._failures.clear()
    # the same command again (a new process: a fresh GDAL cache) reads b only
    with RangeServer(folder, port=server.port) as again:
        assert forked(build_argv(hash_run, other, tmp_path / "ix2", "--io-workers", 2), tmp_path / "rerun.log") == 0
        assert again.by_name.get("a.tif", 0) == 0  # a was complete: not opened
    assert "continuing the interrupted build" in (tmp_path / "rerun.log").read_text()
    assert {u: sorted(w) for u, w in verified_windows(tmp_path / "ix2").items()} == {
        u: sorted(e) for u, e in zip(other, expected)
    }
    assert [codes_of(tmp_path / "ix2", u) for u in other] == expected


def test_sigkill_mid_remote_ingest_then_same_command_completes(hash_run, two_cogs, tmp_path):
    """SIGKILL of mlrsir while scene b is being read; the same command finishes it, a unread."""
    folder, cogs = two_cogs
    expected = local_codes(hash_run, cogs, tmp_path)
    with RangeServer(folder) as server:
        urls = [server.url(c.name) for c in cogs]
        argv = build_argv(hash_run, urls, tmp_path / "ix", "--io-workers", 2)

        def a_done_b_started() -> bool:  # the kill lands while b is read, after a was stored whole
            if server.by_name.get("b.tif", 0) < 2 or not (tmp_path / "ix" / "index.sqlite").exists():
                return False
            try:
                with CodeIndex.open(tmp_path / "ix", readonly=True, verify=False) as index:
                    return ingest_log.complete_tiles(index, urls[0], ingest_log.tiling_key(TILE, None, None)) == TILES
            except Exception:  # the child is creating the index
                return False

        assert forked(argv, tmp_path / "run1.log", kill_when=a_done_b_started) is None
        stored = verified_windows(tmp_path / "ix")  # opens, verifies: nothing half-written
        assert len(stored.get(urls[0], [])) == TILES and len(stored.get(urls[1], [])) < TILES
        server.reset()
        assert forked(argv, tmp_path / "run2.log") == 0
        assert server.by_name.get("a.tif", 0) == 0  # complete scene: no request at all
        log = (tmp_path / "run2.log").read_text()
        assert "continuing the interrupted build" in log and "complete in the index (16 tiles), not read" in log
        server.reset()
        assert forked(argv, tmp_path / "run3.log") == 2  # a finished build is not built over
        assert "an index already exists" in (tmp_path / "run3.log").read_text() and server.requests == 0
    windows = verified_windows(tmp_path / "ix")
    assert all(len(w) == len(set(w)) == TILES for w in windows.values())  # every tile exactly once
    assert [codes_of(tmp_path / "ix", u) for u in urls] == expected


def test_http_server_killed_mid_ingest_then_rerun_completes(hash_run, two_cogs, tmp_path):
    folder, cogs = two_cogs
    expected = local_codes(hash_run, cogs, tmp_path)
    with RangeServer(folder, kill_after=12) as server:  # dies during the first scenes' reads
        urls = [server.url(c.name) for c in cogs]
        port = server.port
        argv = build_argv(hash_run, urls, tmp_path / "ix", "--io-workers", 2)
        status = forked(argv, tmp_path / "run1.log", servers=[server])
        assert server.dead
    log = (tmp_path / "run1.log").read_text()
    assert status in (2, 3), log
    assert f"skipped {urls[1]}: " in log and "remote raster" in log  # named with its URL
    if status == 3:
        verified_windows(tmp_path / "ix")  # what was stored opens and verifies
    with RangeServer(folder, port=port) as again:
        assert forked(argv, tmp_path / "run2.log") == 0, (tmp_path / "run2.log").read_text()
        assert again.requests > 0
    windows = verified_windows(tmp_path / "ix")
    assert all(len(w) == len(set(w)) == TILES for w in windows.values())
    assert [codes_of(tmp_path / "ix", u) for u in urls] == expected


def test_truncated_remote_file_named_then_fixed_rerun_completes(hash_run, two_cogs, tmp_path):
    folder, cogs = two_cogs
    expected = local_codes(hash_run, cogs, tmp_path)
    with RangeServer(folder) as server:
        server.truncate["b.tif"] = cogs[1].stat().st_size // 2  # the upload stopped half-way
        urls = [server.url(c.name) for c in cogs]
        argv = build_argv(hash_run, urls, tmp_path / "ix", "--io-workers", 2)
        assert forked(argv, tmp_path / "run1.log") == 3
        log = (tmp_path / "run1.log").read_text()
        assert f"skipped {urls[1]}: " in log, log
        assert verified_windows(tmp_path / "ix").keys() == {urls[0]}
        server.truncate.clear()  # the file is whole again
        server.reset()
        assert forked(argv, tmp_path / "run2.log") == 0
        assert server.by_name.get("a.tif", 0) == 0
    assert [codes_of(tmp_path / "ix", u) for u in urls] == expected


def test_wrong_s3_credentials_named_nothing_lost_rerun_completes(hash_run, two_cogs, tmp_path, monkeypatch):
    """Each command runs in a child of its own, as from a shell: GDAL remembers a refused object
    for the rest of a process."""
    pytest.importorskip("moto.server", reason="moto[server] (test extra) is not installed")
    from tests.fakes.s3_server import S3Server

    folder, cogs = two_cogs
    expected = local_codes(hash_run, cogs, tmp_path)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with S3Server("archive", {"s/a.tif": cogs[0], "s/b.tif": cogs[1]}) as s3:
        for name, value in s3.gdal_env().items():
            monkeypatch.setenv(name, value)
        urls = ["s3://archive/s/a.tif", "s3://archive/s/b.tif"]
        assert forked(build_argv(hash_run, urls[:1], tmp_path / "ix", "--io-workers", 2), tmp_path / "a.log") == 0
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        add = ["index", "add", "--index", str(tmp_path / "ix"), "--images", *urls, "--tile", str(TILE), "--quiet"]
        start = time.perf_counter()
        assert forked(add, tmp_path / "wrong.log") == 3  # a: complete, not read; b: refused, named
        assert time.perf_counter() - start < 10  # refused credentials are not retried
        out = (tmp_path / "wrong.log").read_text()
        assert f"skipped {urls[1]}: remote raster access denied (HTTP 403)" in out, out
        assert "check the AWS credentials" in out
        assert verified_windows(tmp_path / "ix").keys() == {urls[0]}
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
        assert forked(add, tmp_path / "good.log") == 0
    assert [codes_of(tmp_path / "ix", u) for u in urls] == expected


def test_progress_lines_on_stderr_count_tiles_bytes_and_rate(hash_run, two_cogs, tmp_path, capsys):
    folder, cogs = two_cogs
    with RangeServer(folder) as server:
        argv = build_argv(hash_run, [server.url("a.tif")], tmp_path / "ix", "--io-workers", 1)
        argv.remove("--quiet")
        assert main(argv) == 0
    err = capsys.readouterr().err
    pixels = TILES * 3 * TILE * TILE * 2 / 1e6  # uint16 bands
    line = next((x for x in err.splitlines() if x.startswith("scene a: read")), err)
    assert line.startswith(f"scene a: read {TILES}/{TILES} tiles, {pixels:.1f} MB of pixels, "), line
    assert re.search(r"MB of pixels, [0-9.]+ tiles/s, 0 retries$", line), line


def test_io_workers_must_not_be_negative(hash_run, tmp_path, capsys):
    assert main(build_argv(hash_run, [str(synthetic_cog(tmp_path))], tmp_path / "ix", "--io-workers", -1)) == 2
    assert "--io-workers -1: must be >= 0" in capsys.readouterr().err
