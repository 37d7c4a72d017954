"""``mlrsir index build|add --engine ray``: the Ray Data pipeline gives the same index as
the in-process engine, survives a killed encoder actor and reports unreadable inputs.

Kept lean for the suite's time budget (2 cores): ONE local Ray for the whole module
(2 logical CPUs; no dashboard, no usage statistics, worker logs not forwarded), which the
CLI reuses; the encoder actors ask for half a CPU each so 2 actors and their decode tasks
fit in it. One shared tiny run (random-init EfficientNet-Lite0, 32 px, 2 iterations) on
24 generated images + 1 unreadable file; the real-data check uses 100 UCM images.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.index.store import CodeIndex
from tests.fixtures.make_datasets import make_ucm_fixture

ray = pytest.importorskip("ray", reason="Ray not installed (pip install 'mlrsir[ray]')")
# Ray Data's own DataContext touches its deprecated fields (use_polars, ...): not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")


@pytest.fixture(scope="module")
def ray_session():
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    from mlrsir.ingest.ray_engine import quiet_token_auth_notice

    quiet_token_auth_notice()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny UCM copy with one unreadable file, and a 2-iteration run (random-init
    EfficientNet-Lite0, 32 px): ``(images folder, run dir, base folder)``."""
    base = tmp_path_factory.mktemp("ray")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRSIR_CACHE", str(base / "cache"))
        root = make_ucm_fixture(base / "ucm", scenes=3, per_scene=8, size=40)
        args = ["train", "--dataset", "ucm", "--root", str(root), "--bits", "16", "--iterations", "2"]
        args += ["--batch-size", "8", "--weights", "none", "--image-size", "32", "--quiet", "--out", str(base / "run")]
        assert main(args) == 0
    (root / "Images" / "broken.jpg").write_bytes(b"not a jpeg")
    return root / "Images", base / "run", base


def _rows(path):
    with CodeIndex.open(path, readonly=True) as index:
        ids = index.ids()
        return ids, index.codes(), [index.get(int(i)) for i in ids]


RAY_ARGS = ("--engine", "ray", "--workers", "2", "--cpus-per-worker", "0.5")


def _build(images, run, index, *extra):
    args = ["index", "build", "--run", str(run), "--images", *map(str, images), "--index", str(index)]
    return main([*args, "--quiet", "--batch-size", "8", *extra])


@pytest.fixture(scope="module")
def local_index(tiny):
    images, run, base = tiny
    assert _build([images], run, base / "local") == 3  # broken.jpg failed, the rest indexed
    return base / "local"


def test_ray_index_identical_to_local(tiny, local_index, ray_session, tmp_path, capsys):
    images, run, _ = tiny
    assert _build([images], run, tmp_path / "ray", *RAY_ARGS) == 3
    out = capsys.readouterr().out
    assert "skipped" in out and "broken.jpg" in out and "1 failed" in out
    ids_l, codes_l, rows_l = _rows(local_index)
    ids_r, codes_r, rows_r = _rows(tmp_path / "ray")
    assert len(ids_r) == 24
    np.testing.assert_array_equal(ids_r, ids_l)
    np.testing.assert_array_equal(codes_r, codes_l)  # bit for bit
    assert rows_r == rows_l
    # add: everything already present, nothing encoded twice
    add = ["index", "add", "--index", str(tmp_path / "ray"), "--images", str(images), "--quiet"]
    assert main([*add, *RAY_ARGS]) == 3  # broken.jpg fails again
    assert "24 already present" in capsys.readouterr().out


def test_killed_actor_is_retried(tiny, local_index, ray_session, tmp_path):
    from mlrsir.index.ingest import list_images, load_hashing_encoder
    from mlrsir.ingest.ray_engine import RayOptions, encode_into_index_ray

    images, run, _ = tiny
    encoder = load_hashing_encoder(run)
    paths = list_images(images)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    index = CodeIndex.create(
        tmp_path / "ray", bits=encoder.bits, fingerprint=encoder.fingerprint, run_dir=str(run), classes=None
    )
    result: dict = {}

    def job():
        result["summary"] = encode_into_index_ray(
            index,
            run,
            paths,
            image_size=encoder.image_size,
            options=RayOptions(workers=2, cpus_per_worker=0.5, batch_size=2),
            progress=False,
            log=lambda message: None,
            hooks={"pid_dir": str(pid_dir), "delay_s": 0.2},
        )

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    # actor start-up: seconds on an idle machine, up to minutes on a heavily loaded one
    deadline = time.monotonic() + 240
    while not list(pid_dir.glob("*.pid")) and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    pid_files = sorted(pid_dir.glob("*.pid"))
    assert pid_files, "no encoder actor started within 240 s"
    victim = int(pid_files[0].stem)
    os.kill(victim, signal.SIGKILL)  # one encoder actor dies in the middle of the job
    thread.join(timeout=240)
    assert not thread.is_alive(), "the job did not finish within 240 s of the kill"
    summary = result["summary"]
    assert summary["added"] == 24 and len(summary["failed"]) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(victim, 0)  # the victim is gone: its batches were redone by a restarted actor
    ids_l, codes_l, rows_l = _rows(local_index)
    index.close()
    ids_r, codes_r, rows_r = _rows(tmp_path / "ray")
    assert sorted(r["path"] for r in rows_r) == sorted(r["path"] for r in rows_l)  # every input exactly once
    np.testing.assert_array_equal(codes_r, codes_l)


def test_without_ray_clear_error(tiny, tmp_path, monkeypatch, capsys):
    images, run, _ = tiny
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SystemExit) as exit_info:
        _build([images], run, tmp_path / "ray", "--engine", "ray")
    assert exit_info.value.code == 2
    assert "pip install 'mlrsir[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "ray").exists()


@pytest.mark.realdata
def test_ucm_images_bit_for_bit(ucm_root, tiny, ray_session, tmp_path):
    """100 real UCM JPEGs (256 px: decoded at reduced scale for the 32 px run, the
    ``target_size`` path of ``read_rgb``) give the same codes on both engines."""
    _, run, _ = tiny
    from mlrsir.index.ingest import list_images

    images = list_images(ucm_root / "Images")[::21][:100]
    assert _build(images, run, tmp_path / "local") == 0
    assert _build(images, run, tmp_path / "ray", *RAY_ARGS) == 0
    ids_l, codes_l, rows_l = _rows(tmp_path / "local")
    ids_r, codes_r, rows_r = _rows(tmp_path / "ray")
    assert len(ids_l) == len(images) == 100
    np.testing.assert_array_equal(codes_r, codes_l)
    assert rows_r == rows_l
