"""The README's headline block is the output of docs/scripts/headline_table.py (issue 29:
the verdicts are regenerated from the results, never edited by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "scripts" / "headline_table.py"


def _headline_module():
    spec = importlib.util.spec_from_file_location("headline_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_holds_the_generated_headline_tables():
    module = _headline_module()
    if not all((ROOT / path).is_file() for _, path in module.PROTOCOLS):
        pytest.skip("reports/ucm*/results.json not in this checkout")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- headline:start")
    block = readme[readme.index("\n", start) + 1 : readme.index("<!-- headline:end -->")].strip()
    assert block == module.headline(ROOT), "README headline is stale: run python docs/scripts/headline_table.py"


def test_the_verdict_table_follows_the_interval_rule(tmp_path):
    """On made-up rows: a clear gain is a win, a clear loss a loss, noise around 0 is '='."""
    import json

    import numpy as np

    module = _headline_module()
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.9, size=200)
    rows = []
    for seed in range(2):
        rows.append({"method": "mlrsir", "bits": 12, "seed": seed, "map": 0.8, "per_query_ap": list(base)})
        rows.append({"method": "dhn", "bits": 12, "seed": seed, "map": 0.7, "per_query_ap": list(base - 0.05)})
        rows.append({"method": "dtq", "bits": 12, "seed": seed, "map": 0.9, "per_query_ap": list(base + 0.05)})
        noise = base + rng.normal(0, 0.01, size=base.size)
        rows.append(
            {
                "method": "dch",
                "bits": 12,
                "seed": seed,
                "map": 0.8,
                "per_query_ap": list(noise - noise.mean() + base.mean()),
            }
        )
    for _, path in module.PROTOCOLS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(json.dumps(rows))
    verdict_rows = {line.split(" | ")[0].strip("| "): line for line in module.headline(tmp_path).splitlines()[-4:]}
    assert verdict_rows["DHN"] == "| DHN | **win** | **win** |"
    assert verdict_rows["DTQ"] == "| DTQ | loss | loss |"
    assert verdict_rows["DCH"] == "| DCH | = | = |"
    assert verdict_rows["DQN"] == "| DQN | — | — |"


def test_docs_results_tables_are_the_generated_ones():
    spec = importlib.util.spec_from_file_location("results_tables", ROOT / "docs" / "scripts" / "results_tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not all((ROOT / path).is_file() for path in module.PROTOCOLS.values()):
        pytest.skip("reports/ucm*/results.json not in this checkout")
    text = (ROOT / module.DOC).read_text(encoding="utf-8")
    assert len(module.MARKER.findall(text)) == 6
    assert module.rewrite(text, module.tables(ROOT)) == text, (
        "docs/results.md tables are stale: run python docs/scripts/results_tables.py --write"
    )
