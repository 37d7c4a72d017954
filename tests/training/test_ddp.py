"""Data-parallel training (``mlrsir.training.ddp``): 2 gloo processes on this
machine against the 1-process run of the same global batch.

Tolerances: the per-step loss of the 2-process run matches the 1-process run to 1e-5
relative (only the float summation order of the gradient all-reduce differs); final
weights to 1e-4 absolute; both ranks hold bit-identical weights. Tiny runs: UCM-like
fixture, random-init EfficientNet-Lite0 at 32 px, 8 iterations; the 2-process jobs share
one spawned group (fixture ``two_process_runs``) to keep the module within ~1 minute.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlrsir.cli.main import main
from mlrsir.run.config import TrainConfig, resolve_config
from mlrsir.training.ddp import current, init_from_env, launch_local
from mlrsir.training.trainer import Trainer
from tests.fixtures.make_datasets import make_ucm_fixture

LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-4


@pytest.fixture(scope="module")
def ucm(tmp_path_factory):
    return make_ucm_fixture(tmp_path_factory.mktemp("ucm"), scenes=3, per_scene=8, size=40)


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLRSIR_CACHE", str(tmp_path_factory.mktemp("cache")))
        for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            patch.delenv(key, raising=False)
        yield


def config(root, **kw):
    values = dict(
        dataset="ucm",
        root=str(root),
        weights="none",
        image_size=32,
        iterations=8,
        checkpoint_every=4,
        batch_size=8,
        bits=16,
        device="cpu",
        seed=3,
        # the tolerances are fp32 ones (a bf16 forward rounds each rank's shard on its own)
        train_precision="fp32",
    )
    values.update(kw)
    return resolve_config("default", **values)


def _rank_main(cfg, run_dir: str, out_dir: str, fail_at: int | None = None) -> None:
    """One rank (or the single process): train, record every step's loss and the weights."""
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    init_from_env("cpu")
    ctx = current()
    trainer = Trainer(cfg, run_dir, progress=False, log=lambda message: None)
    losses: list[float] = []
    original = trainer.method.loss

    def recording_loss(out, labels):
        if fail_at is not None and trainer.step == fail_at:
            raise RuntimeError("injected failure")
        value, parts = original(out, labels)
        losses.append(float(value.detach()))
        return value, parts

    trainer.method.loss = recording_loss
    trainer.fit()
    metrics = trainer.evaluate(curves=False) if ctx.is_main else {}
    flat = torch.cat([p.detach().reshape(-1) for p in trainer.model.parameters()]).numpy()
    method_state = {k: np.asarray(v) for k, v in trainer.method.state_dict().items()}
    np.savez(f"{out_dir}/rank{ctx.rank}.npz", losses=np.array(losses), weights=flat, **method_state)
    if ctx.is_main:
        with open(f"{out_dir}/metrics.json", "w") as handle:
            json.dump({"map": metrics["map"], "world": ctx.world_size}, handle)


def _single(cfg, run_dir, out_dir):
    out_dir.mkdir()
    _rank_main(cfg, str(run_dir), str(out_dir))
    return np.load(out_dir / "rank0.npz"), json.loads((out_dir / "metrics.json").read_text())


def _two(cfg, run_dir, out_dir, fail_at=None):
    out_dir.mkdir(exist_ok=True)
    launch_local(2, _rank_main, (cfg.to_dict(), str(run_dir), str(out_dir), fail_at))
    return (
        np.load(out_dir / "rank0.npz"),
        np.load(out_dir / "rank1.npz"),
        json.loads((out_dir / "metrics.json").read_text()),
    )


def _rank_jobs(jobs: list[dict]) -> None:
    """Several training jobs one after the other in ONE spawned group (spawning and
    importing torch twice costs more than these tiny runs). A job with ``fail_at`` must
    stop with the injected failure (raised on every rank at the same step, before any
    collective of that step's backward); the checkpoint step left behind is recorded."""
    for job in jobs:
        if job.get("fail_at") is None:
            _rank_main(job["cfg"], job["run_dir"], job["out_dir"])
            continue
        try:
            _rank_main(job["cfg"], job["run_dir"], job["out_dir"], job["fail_at"])
        except RuntimeError as exc:
            assert "injected failure" in str(exc)
        else:
            raise AssertionError("the injected failure did not happen")
        if current().is_main:
            state = json.loads(open(f"{job['run_dir']}/checkpoint/state.json").read())
            with open(f"{job['out_dir']}/failed.json", "w") as handle:
                json.dump({"checkpoint_step": state["step"]}, handle)


@pytest.fixture(scope="module")
def reference(ucm, tmp_path_factory):
    """The 1-process run of the frozen default preset (shared by the tests below)."""
    base = tmp_path_factory.mktemp("reference")
    return _single(config(ucm), base / "run", base / "out")


@pytest.fixture(scope="module")
def two_process_runs(ucm, tmp_path_factory):
    """The 2-process jobs of the tests below, run in one spawned group: the frozen preset
    (compared with ``reference``), a DQN run (codebooks), a run failing after its step-4
    checkpoint and its resumption. ``{name: (out folder, run folder)}``."""
    base = tmp_path_factory.mktemp("two")
    jobs, folders = [], {}
    plan = [
        ("frozen", config(ucm), None),
        ("dqn", config(ucm, method="dqn", iterations=4, refit_every=2), None),
        ("failing", config(ucm), 6),  # the checkpoint of step 4 is kept
        ("resumed", config(ucm), None),  # same run folder as "failing"
    ]
    for name, cfg, fail_at in plan:
        run_dir = base / ("resume" if name in ("failing", "resumed") else name) / "run"
        out_dir = base / name
        out_dir.mkdir(parents=True, exist_ok=True)
        folders[name] = (out_dir, run_dir)
        jobs.append({"cfg": cfg.to_dict(), "run_dir": str(run_dir), "out_dir": str(out_dir), "fail_at": fail_at})
    launch_local(2, _rank_jobs, (jobs,))
    return folders


def _load(folder):
    return (
        np.load(folder / "rank0.npz"),
        np.load(folder / "rank1.npz"),
        json.loads((folder / "metrics.json").read_text()),
    )


def test_frozen_two_processes_match_one_process(ucm, reference, two_process_runs):
    cfg = config(ucm)
    one, m1 = reference
    out_dir, run_dir = two_process_runs["frozen"]
    r0, r1, m2 = _load(out_dir)
    assert m2["world"] == 2 and len(r0["losses"]) == cfg.iterations
    np.testing.assert_allclose(r0["losses"], one["losses"], rtol=LOSS_RTOL)
    np.testing.assert_array_equal(r0["weights"], r1["weights"])  # ranks never drift apart
    np.testing.assert_allclose(r0["weights"], one["weights"], atol=WEIGHT_ATOL)
    assert abs(m2["map"] - m1["map"]) <= 0.005
    # only rank 0 wrote the run directory; the checkpoint is there
    assert (run_dir / "checkpoint" / "state.json").is_file()


def test_resume_after_failure_matches_uninterrupted(ucm, reference, two_process_runs):
    cfg = config(ucm)
    one, _ = reference
    failed_dir, _ = two_process_runs["failing"]
    assert json.loads((failed_dir / "failed.json").read_text())["checkpoint_step"] == 4
    r0, r1, _ = _load(two_process_runs["resumed"][0])
    assert len(r0["losses"]) == cfg.iterations - 4
    np.testing.assert_allclose(r0["losses"], one["losses"][4:], rtol=LOSS_RTOL)
    np.testing.assert_allclose(r0["weights"], one["weights"], atol=WEIGHT_ATOL)
    np.testing.assert_array_equal(r0["weights"], r1["weights"])


def test_failure_in_a_spawned_rank_is_raised(ucm, tmp_path):
    """``launch_local`` raises when a rank fails (``mlrsir train --nproc`` exits non-zero)."""
    with pytest.raises(Exception, match="injected failure"):
        _two(config(ucm, iterations=2), tmp_path / "run", tmp_path / "out", fail_at=0)


def test_quantizer_codebooks_identical_on_both_ranks(two_process_runs):
    r0, r1, _ = _load(two_process_runs["dqn"][0])
    keys = [k for k in r0.files if k not in ("losses", "weights")]
    assert keys, "DQN has codebooks"
    for key in keys:
        np.testing.assert_array_equal(r0[key], r1[key])
    np.testing.assert_array_equal(r0["weights"], r1["weights"])


def test_cli_nproc_finetune_all(ucm, tmp_path, capsys):
    """Whole network trained in 2 processes through the CLI (BatchNorm statistics are
    per rank on CPU, so this run is not compared with 1 process number for number)."""
    out = tmp_path / "run"
    args = ["train", "--dataset", "ucm", "--root", str(ucm), "--bits", "12", "--iterations", "2"]
    args += ["--batch-size", "8", "--weights", "none", "--image-size", "32", "--device", "cpu"]
    args += ["--finetune", "all", "--out", str(out), "--quiet", "--json", "--nproc", "2"]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= metrics["map"] <= 1.0
    for name in ("config.json", "model.safetensors", "metrics.json", "meta.json", "checkpoint"):
        assert (out / name).exists(), name
    assert json.loads((out / "meta.json").read_text())["iterations"] == 2
