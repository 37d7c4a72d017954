"""Paired bootstrap over queries and the win rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlrsir.report.stats import BootstrapResult, compare_methods, paired_bootstrap, verdict


def test_identical_aps_give_a_zero_interval():
    ap = np.random.default_rng(0).uniform(size=300)
    res = paired_bootstrap(ap - ap)
    assert (res.mean, res.low, res.high) == (0.0, 0.0, 0.0)
    assert verdict(res) == "not separated"


def test_a_constant_shift_gives_an_interval_equal_to_the_shift():
    ap = np.random.default_rng(1).uniform(size=300)
    res = paired_bootstrap([(ap + 0.05) - ap, (ap[:100] + 0.05) - ap[:100]])
    assert res.mean == pytest.approx(0.05) and res.low == pytest.approx(0.05) and res.high == pytest.approx(0.05)
    assert res.num_seeds == 2 and res.num_queries == 400 and verdict(res) == "win"


def test_noisy_difference_interval_and_verdicts():
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 0.1, size=500)
    res = paired_bootstrap(noise, n_resamples=2000)
    assert res.low < res.mean < res.high and verdict(res) == "not separated"
    assert res == paired_bootstrap(noise, n_resamples=2000)  # deterministic given its seed
    assert verdict(BootstrapResult(-0.1, -0.2, -0.05, 10, 1)) == "loss"


def test_compare_methods_pairs_by_bits_and_seed():
    q = np.linspace(0.2, 0.8, 50)
    rows = [{"method": "mlrsir", "bits": 32, "seed": s, "per_query_ap": list(q + 0.1)} for s in range(2)] + [
        {"method": "dtq", "bits": 32, "seed": 0, "per_query_ap": list(q)},
        {"method": "dhn", "bits": 32, "seed": 1, "per_query_ap": list(q + 0.1)},
        {"method": "dch", "bits": 12, "seed": 0, "per_query_ap": list(q)},  # no MLRSIR-NET at 12 bits
    ]
    out = {c["baseline"]: c for c in compare_methods(rows, n_resamples=500)}
    assert set(out) == {"dtq", "dhn"}
    assert out["dtq"]["verdict"] == "win" and out["dtq"]["num_seeds"] == 1
    assert out["dtq"]["mean"] == pytest.approx(0.1)
    assert out["dhn"]["verdict"] == "not separated" and out["dhn"]["high"] == pytest.approx(0.0)
    assert [(s, round(d, 12)) for s, d in out["dtq"]["per_seed"]] == [(0, 0.1)]
    assert [(s, round(d, 12)) for s, d in out["dhn"]["per_seed"]] == [(1, 0.0)]


def test_per_seed_differences_show_which_seed_carries_a_verdict():
    """Seed 0 ahead by 0.02, seed 1 behind by 0.06: the pooled mean is -0.02 and the
    table prints both seeds' own means."""
    from mlrsir.report.tables import bootstrap_table

    q = np.linspace(0.2, 0.8, 50)
    rows = [
        {"method": "mlrsir", "bits": 32, "seed": 0, "per_query_ap": list(q + 0.02)},
        {"method": "mlrsir", "bits": 32, "seed": 1, "per_query_ap": list(q - 0.06)},
        {"method": "dhn", "bits": 32, "seed": 0, "per_query_ap": list(q)},
        {"method": "dhn", "bits": 32, "seed": 1, "per_query_ap": list(q)},
    ]
    (c,) = compare_methods(rows, n_resamples=300)
    assert c["mean"] == pytest.approx(-0.02)
    assert [s for s, _ in c["per_seed"]] == [0, 1]
    assert [d for _, d in c["per_seed"]] == pytest.approx([0.02, -0.06])
    assert "| s0 +0.0200, s1 -0.0600 |" in bootstrap_table([c])


def test_ablations_are_compared_with_the_full_model_and_their_own_reference():
    """The full model against every variant, and "A, without B" against "A"; shifts chosen
    by hand so each difference is exact."""
    from mlrsir.report.writer import ablation_comparisons, render_report

    q = np.linspace(0.2, 0.8, 40)
    shift = {
        "full (default preset)": 0.0,
        "without CBAM": -0.02,
        "frozen backbone": -0.05,
        "frozen backbone, without CBAM": -0.05,
    }
    rows = [
        {"variant": v, "bits": 32, "seed": s, "map": float(np.mean(q + d)), "per_query_ap": list(q + d)}
        for v, d in shift.items()
        for s in range(2)
    ]
    out = {(c["reference"], c["variant"]): c for c in ablation_comparisons(rows, n_resamples=300)}
    assert set(out) == {
        ("full (default preset)", "without CBAM"),
        ("full (default preset)", "frozen backbone"),
        ("full (default preset)", "frozen backbone, without CBAM"),
        ("frozen backbone", "frozen backbone, without CBAM"),
    }
    assert out[("full (default preset)", "without CBAM")]["mean"] == pytest.approx(0.02)
    assert out[("full (default preset)", "without CBAM")]["verdict"] == "win"
    assert out[("full (default preset)", "frozen backbone")]["mean"] == pytest.approx(0.05)
    same = out[("frozen backbone", "frozen backbone, without CBAM")]
    assert same["mean"] == pytest.approx(0.0) and same["verdict"] == "not separated" and same["num_seeds"] == 2
    md = render_report([], figures={}, out_dir=Path("."), ablations=rows, n_resamples=300)
    assert "| frozen backbone | frozen backbone, without CBAM | 32 | +0.0000 |" in md
