"""Running many training runs in one process (benchmark grids, tuning, ablations).

The dataset, its split, the decoded images and the frozen-backbone features are loaded
once and shared by every run; finished runs in the output folder are reused, unfinished
ones resume from their checkpoint. Each run still writes its own config, split, meta and
metrics, exactly like ``mlrsir train``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlrsir.run.config import TrainConfig, resolve_config
from mlrsir.run.run_dir import RunPaths, check_output_folder, write_json_atomic
from mlrsir.training.trainer import PreparedData, prepare_data, train

CURVE_KEYS = ("pr_by_radius", "pr_by_rank", "precision_at_n")


@dataclass
class RunSpec:
    """One run of a grid: a name (its folder) and the config overrides."""

    name: str
    overrides: dict[str, Any]
    preset: str = "default"
    tags: dict[str, Any] = field(default_factory=dict)


class GridRunner:
    """Runs :class:`RunSpec` s under ``out_dir/runs/`` sharing data and feature caches."""

    def __init__(
        self, out_dir: str | Path, base: dict[str, Any], progress: bool = False, log: Callable[[str], None] = print
    ):
        self.out_dir = Path(out_dir)
        self.base = {k: v for k, v in base.items() if v is not None}
        self.progress = progress
        self.log = log
        self._data: dict[tuple, PreparedData] = {}
        self._features: dict = {}

    def config_for(self, spec: RunSpec) -> TrainConfig:
        overrides = dict(self.base)
        overrides.update({k: v for k, v in spec.overrides.items() if v is not None})
        return resolve_config(spec.preset, **overrides)

    def prepared_data(self) -> list[PreparedData]:
        """The datasets and splits prepared so far, in the order the runs first needed them."""
        return list(self._data.values())

    def data_for_spec(self, spec: RunSpec) -> PreparedData:
        """The dataset and split a spec's run would use, prepared without training it (its split
        is written under ``out_dir/splits/``, not into a run folder)."""
        split_dir = self.out_dir / "splits" / spec.name
        split_dir.mkdir(parents=True, exist_ok=True)
        return self._data_for(self.config_for(spec), split_dir)

    def _data_for(self, config: TrainConfig, run_dir: Path) -> PreparedData:
        key = (
            config.dataset,
            config.root,
            config.split_seed,
            config.protocol,
            config.test_fraction,
            config.val_fraction,
            config.image_size,
        )
        if key not in self._data:
            self._data[key] = prepare_data(config, run_dir / "split.json", progress=self.progress)
        return self._data[key]

    def run(self, spec: RunSpec, position: str = "") -> dict[str, Any]:
        """Train/evaluate one spec; returns a benchmark row (scalars + ``curves`` + tags)."""
        config = self.config_for(spec)
        run_dir = self.out_dir / "runs" / spec.name
        check_output_folder(run_dir)  # never a user's folder
        run_dir.mkdir(parents=True, exist_ok=True)
        paths = RunPaths(run_dir)
        if not paths.is_run():  # mark the folder as this run's before its split is written into it
            write_json_atomic(paths.config, config.to_dict())
        data = self._data_for(config, run_dir)
        start = time.perf_counter()
        metrics = train(
            config, run_dir, data=data, progress=self.progress, log=lambda s: None, feature_cache=self._features
        )
        row: dict[str, Any] = {k: v for k, v in metrics.items() if k not in CURVE_KEYS}
        # the code length of the run (evaluate_distances reports bits=None for AQD methods)
        row.update(
            {
                "method": config.method,
                "bits": config.bits,
                "seed": config.seed,
                "dataset": config.dataset,
                "iterations": config.iterations,
                "batch_size": config.batch_size,
                **spec.tags,
            }
        )
        row["curves"] = {k: metrics[k] for k in CURVE_KEYS if k in metrics}
        row["run_dir"] = str(run_dir)
        self.log(
            f"{position} {spec.name}: mAP {metrics.get('map', float('nan')):.4f} "
            f"(stable {metrics.get('map_stable', float('nan')):.4f}), "
            f"train {metrics.get('train_seconds', 0):.0f} s, wall {time.perf_counter() - start:.0f} s"
        )
        return row

    def run_all(self, specs: list[RunSpec]) -> list[dict[str, Any]]:
        rows = []
        for i, spec in enumerate(specs, 1):
            rows.append(self.run(spec, position=f"[{i}/{len(specs)}]"))
        return rows
