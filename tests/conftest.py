"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
UCM_ROOT = Path(os.environ.get("MLRSIR_UCM_ROOT", REPO_ROOT.parent / "shared" / "data" / "ucm-multilabel"))


@pytest.fixture(scope="session")
def ucm_root() -> Path:
    """The real UCM multi-label copy; tests using it skip when it is absent."""
    if not (UCM_ROOT / "LandUse_Multilabeled.txt").is_file():
        pytest.skip(f"real UCM data not found at {UCM_ROOT}")
    return UCM_ROOT
