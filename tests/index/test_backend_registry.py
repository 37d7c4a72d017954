"""Issue 23 item 4: a back-end is one class plus one registration; the CLI help, the name checks
and the index's search read the registry."""

from __future__ import annotations

import numpy as np
import pytest

from mlrsir.cli.main import build_parser
from mlrsir.errors import ConfigError
from mlrsir.index.backend_registry import (
    BackendSpec,
    accepted_names,
    backend_names,
    backend_spec,
    register_backend,
    scale_bench_backends,
    unregister_backend,
)
from mlrsir.index.backends import NumpyBackend, make_backend
from mlrsir.index.store import CodeIndex


class CountingOracleBackend(NumpyBackend):
    """The numpy oracle under another name, counting its builds (to see it was used)."""

    name = "test-oracle"
    builds = 0

    def _build(self, packed):
        type(self).builds += 1
        return super()._build(packed)


@pytest.fixture()
def registered():
    spec = register_backend(
        BackendSpec(
            "test-oracle", CountingOracleBackend, "a test back-end", exact=True, needs_faiss=False, aliases=("to",)
        )
    )
    yield spec
    unregister_backend("test-oracle")


def test_builtins_carry_their_facts():
    assert backend_names() == ("faiss", "faiss-unpadded", "numpy", "mih", "ivf", "hnsw")
    assert [n for n in backend_names() if backend_spec(n).saved] == ["ivf"]
    assert [n for n in backend_names() if backend_spec(n).exact] == ["faiss", "faiss-unpadded", "numpy"]
    assert backend_spec("flat").name == "faiss" and backend_spec("hash").name == "mih"
    assert scale_bench_backends() == ["faiss", "mih", "ivf", "hnsw"]
    with pytest.raises(ConfigError, match="unknown search back-end 'nope'.*numpy"):
        make_backend("nope", 16)
    with pytest.raises(ConfigError, match="takes no option"):
        make_backend("numpy", 16, nlist=4)


def test_a_registered_backend_is_in_the_help_and_searches(registered, tmp_path, capsys):
    assert "test-oracle" in accepted_names() and "to" in accepted_names()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    assert "test-oracle (= to): a test back-end" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(ValueError, match="already registered"):
        register_backend(BackendSpec("numpy", NumpyBackend, "dup", exact=True))

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2, (40, 16), dtype=np.uint8)
    with CodeIndex.create(tmp_path / "ix", bits=16, fingerprint={}, run_dir=None, classes=None) as index:
        index.add([{"path": f"/x{i}.png", "width": 1, "height": 1, "labels": None} for i in range(40)], codes)
        before = CountingOracleBackend.builds
        got = index.search(codes[:3], k=5, backend="to")
        assert CountingOracleBackend.builds == before + 1
        assert got == index.search(codes[:3], k=5, backend="numpy")
