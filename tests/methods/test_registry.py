"""Methods registry: the common interface for all five methods, end to end on random data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from mlrsir.codes import binarize
from mlrsir.errors import ConfigError
from mlrsir.methods.registry import METHOD_NAMES, get_method
from mlrsir.metrics.hamming import hamming_distance

ALL = ("mlrsir", "dhn", "dch", "dqn", "dtq")


def test_registry_names():
    assert set(METHOD_NAMES) == set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_interface_end_to_end(name, tmp_path):
    bits = 24
    m = get_method(name, bits)
    assert m.name == name and m.bits == bits
    assert m.retrieval in ("hamming", "aqd")
    assert m.activation in ("tanh", "identity")
    expected_dim = bits if m.retrieval == "hamming" else 258  # 3 x 256 PQ -> D = 258
    assert m.out_dim == expected_dim
    json.dumps(m.hparams)  # config.json-serialisable
    assert math.prod(len(v) for v in m.search_space.values()) == 4  # equal tuning budget for every method

    g = torch.Generator().manual_seed(0)
    labels = (torch.rand(12, 5, generator=g) < 0.4).float()
    out = torch.tanh(torch.randn(12, m.out_dim, generator=g)).requires_grad_(True)

    rng = np.random.default_rng(0)
    train_outputs = np.tanh(rng.normal(size=(300, m.out_dim))).astype(np.float32)
    train_labels = (rng.random((300, 5)) < 0.4).astype(np.uint8)
    m.refit(train_outputs, train_labels)  # before the first epoch

    loss, parts = m.loss(out, labels)
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert all(isinstance(v, float) for v in parts.values()) and "total" in parts
    loss.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()

    db = m.encode_database(train_outputs[:40])
    q = train_outputs[40:47]
    dist = m.distances(q, db)
    assert dist.shape == (7, 40)
    if m.retrieval == "hamming":
        np.testing.assert_array_equal(dist, hamming_distance(binarize(q), binarize(train_outputs[:40])))
    else:
        assert db.shape == (40, 3) and dist.dtype == np.float32

    # state round trip through safetensors, and a rebuilt method gives the same distances
    state = m.state_dict()
    rebuilt = get_method(name, bits, **m.hparams)
    if state:
        path = tmp_path / "method.safetensors"
        save_file(state, str(path))
        rebuilt.load_state_dict(load_file(str(path)))
    np.testing.assert_array_equal(rebuilt.distances(q, rebuilt.encode_database(train_outputs[:40])), dist)


def test_unknown_method_and_hparam():
    with pytest.raises(ConfigError, match="unknown method"):
        get_method("resnet", 32)
    with pytest.raises(ConfigError, match="lamda"):
        get_method("dhn", 32, lamda=1.0)
    with pytest.raises(ConfigError, match="bits"):
        get_method("dqn", 30)
    with pytest.raises(ConfigError):
        get_method("mlrsir", 32, pairwise="hinge")


def test_names_are_case_insensitive_and_hparams_override():
    m = get_method("DCH", 48, gamma=7.5)
    assert m.name == "dch" and m.hparams["gamma"] == 7.5


def test_mlrsir_passes_options_to_hashing_loss():
    m = get_method("mlrsir", 16, pairwise="likelihood", quant_weight=0.2)
    assert m.hparams == {"pairwise": "likelihood", "quant_weight": 0.2}
    assert m.criterion.quant_weight == 0.2
    m2 = get_method("mlrsir", 16, pairwise="euclidean", margin=3.0)
    assert m2.hparams["margin"] == 3.0 and m2.criterion.pairwise.margin == 3.0
