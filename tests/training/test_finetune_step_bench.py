"""``python -m mlrsir.bench.finetune_step``: its three variants compute the same step."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlrsir.bench.finetune_step import VARIANTS, main, run
from mlrsir.models import fusion
from mlrsir.models.mlrsir_net import MLRSIRNet


def test_variants_give_the_same_outputs_and_the_bench_reports_each(capsys):
    """The timed variants differ in memory layout and pooling code only, not in values."""
    torch.manual_seed(0)
    model = MLRSIRNet(weights="none").eval()
    pooled, last = model.frozen_trunk(torch.randn(2, 3, 100, 100), 1)
    with torch.no_grad():
        current = model.head(model.aggregate_from(pooled, last.contiguous(memory_format=torch.channels_last), 1))
        fusion_pool = fusion.adaptive_avg_pool
        fusion.adaptive_avg_pool = F.adaptive_avg_pool2d
        try:
            default = model.head(model.aggregate_from(pooled, last.contiguous(), 1))
        finally:
            fusion.adaptive_avg_pool = fusion_pool
    torch.testing.assert_close(current, default, rtol=1e-5, atol=1e-6)

    result = run(batch=2, steps=1)
    assert set(result["seconds_per_step"]) == set(VARIANTS)
    assert all(s > 0 for s in result["seconds_per_step"].values())
    assert result["speedup_vs_default"]["default"] == 1.0
    assert main(["--batch", "2", "--steps", "1"]) == 0
    assert "ms/step" in capsys.readouterr().out
