"""DQN and DTQ: losses against python loops, triplet mining, refit, AQD retrieval."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlrsir.errors import ConfigError
from mlrsir.methods.dqn import DQN, dqn_cosine_loss
from mlrsir.methods.dtq import DTQ, mine_triplets, squared_distance_matrix, triplet_loss


def _labels(b=8, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = (torch.rand(b, c, generator=g) < 0.3).float()
    labels[:, 0] = 0.0
    labels[0, 0] = labels[1, 0] = 1.0  # 0 and 1 similar
    labels[2] = 0.0
    labels[2, 0] = 0.0
    labels[2, 3] = 1.0
    return labels


def _sim(labels, i, j):
    return float((labels[i] * labels[j]).sum()) > 0


# ------------------------------------------------------------------ DQN
def test_dqn_cosine_loss_matches_loop():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(8, 6, generator=g, dtype=torch.float64)
    labels = _labels()
    total, n = 0.0, 0
    for i in range(8):
        for j in range(8):
            if i == j:
                continue
            s = 1.0 if _sim(labels, i, j) else -1.0
            cos = float(z[i] @ z[j]) / (float(z[i].norm()) * float(z[j].norm()))
            total += (s - cos) ** 2
            n += 1
    assert float(dqn_cosine_loss(z, labels)) == pytest.approx(total / n, rel=1e-10)


def test_dqn_quantization_loss_matches_loop_and_needs_refit():
    m = DQN(12)  # M=3, K=16, D=258
    assert (m.layout["num_codebooks"], m.layout["codebook_size"], m.out_dim) == (3, 16, 258)
    rng = np.random.default_rng(0)
    train = np.tanh(rng.normal(size=(60, 258))).astype(np.float32)
    z = torch.tensor(train[:5], requires_grad=True)
    labels = _labels(b=5)
    _, parts0 = m.loss(z, labels)
    assert parts0["quantization"] == 0.0  # before the first refit (k-means init)
    m.refit(train, None)
    # oracle: nearest codeword per subspace by loop, squared error summed over D
    cb = m.pq.codebooks.astype(np.float64)
    errs = []
    for x in train[:5].astype(np.float64):
        e = 0.0
        for mm in range(3):
            sub = x[86 * mm : 86 * (mm + 1)]
            e += min(float(((sub - c) ** 2).sum()) for c in cb[mm])
        errs.append(e)
    total, parts = m.loss(z, labels)
    assert parts["quantization"] == pytest.approx(sum(errs) / 5, rel=1e-4)
    assert parts["total"] == pytest.approx(parts["pairwise"] + 1e-4 * parts["quantization"], rel=1e-6)
    total.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_refit_reduces_quantization_error():
    m = DQN(24, kmeans_iters=0, refit_iters=5)  # first refit: random codewords only
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(6, m.out_dim))
    x = np.tanh(centers[rng.integers(0, 6, 400)] + 0.2 * rng.normal(size=(400, m.out_dim))).astype(np.float32)
    m.refit(x, None)
    e0 = m.pq.quantization_error(x)
    m.refit(x, None)  # warm-started Lloyd steps
    e1 = m.pq.quantization_error(x)
    assert e1 < e0


# ------------------------------------------------------------------ DTQ
def _triplet_setup(seed=0, b=10, d=5):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, d, generator=g, dtype=torch.float64)
    labels = _labels(b=b, seed=seed)
    return z, labels


def test_squared_distance_matrix():
    z, _ = _triplet_setup()
    dist = squared_distance_matrix(z)
    assert float(dist[2, 7]) == pytest.approx(float(((z[2] - z[7]) ** 2).sum()), rel=1e-10)


def test_hardest_mining_matches_loop():
    z, labels = _triplet_setup()
    dist = squared_distance_matrix(z)
    margin = 2.0
    trips = mine_triplets(dist, labels, margin, "hardest")
    expected = []
    b = z.shape[0]
    for a in range(b):
        negs = [n for n in range(b) if not _sim(labels, a, n)]
        if not negs:
            continue
        n_star = min(negs, key=lambda n: (float(dist[a, n]), n))
        for p in range(b):
            if p != a and _sim(labels, a, p) and margin + float(dist[a, p]) - float(dist[a, n_star]) > 0:
                expected.append((a, p, n_star))
    assert sorted(map(tuple, trips.tolist())) == sorted(expected)
    assert len(expected) > 0
    loss = triplet_loss(dist, trips, margin)
    loop = sum(max(0.0, margin + float(dist[a, p]) - float(dist[a, n])) for a, p, n in expected) / len(expected)
    assert float(loss) == pytest.approx(loop, rel=1e-10)


def test_group_hard_mining_picks_violating_negatives_for_every_violating_pair():
    z, labels = _triplet_setup(seed=4)
    dist = squared_distance_matrix(z)
    margin = 1.0
    gen = torch.Generator().manual_seed(0)
    trips = mine_triplets(dist, labels, margin, "group_hard", gen)
    b = z.shape[0]
    got = {(a, p): n for a, p, n in trips.tolist()}
    for a in range(b):
        for p in range(b):
            if p == a or not _sim(labels, a, p):
                continue
            viol = [
                n for n in range(b) if not _sim(labels, a, n) and margin + float(dist[a, p]) - float(dist[a, n]) > 0
            ]
            if viol:
                assert got[(a, p)] in viol
            else:
                assert (a, p) not in got
    assert len(got) == trips.shape[0] > 0
    # reproducible with the same seed
    again = mine_triplets(dist, labels, margin, "group_hard", torch.Generator().manual_seed(0))
    assert torch.equal(trips, again)


def test_dtq_loss_total_gradient_and_no_triplets():
    m = DTQ(32, margin_per_dim=0.01, quant_weight=0.5)
    assert m.out_dim == 256 and m.margin == pytest.approx(2.56)
    g = torch.Generator().manual_seed(0)
    z = torch.tanh(torch.randn(10, 256, generator=g)).requires_grad_(True)
    labels = _labels(b=10)
    total, parts = m.loss(z, labels)
    assert parts["num_triplets"] > 0 and parts["triplet"] > 0
    total.backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    # all images share one label: no negatives, triplet loss 0 but still differentiable
    z2 = z.detach().clone().requires_grad_(True)
    total2, parts2 = m.loss(z2, torch.ones(10, 3))
    assert parts2["num_triplets"] == 0 and parts2["triplet"] == 0.0
    total2.backward()


def test_dtq_rejects_unknown_mining():
    with pytest.raises(ConfigError, match="mining"):
        DTQ(32, mining="semi")


# ------------------------------------------------------------------ retrieval
@pytest.mark.parametrize("cls", [DQN, DTQ])
def test_aqd_retrieval_equals_brute_force_on_reconstructions(cls):
    m = cls(12, kmeans_iters=5)
    rng = np.random.default_rng(7)
    train = np.tanh(rng.normal(size=(80, m.out_dim))).astype(np.float32)
    m.refit(train, None)
    db = m.encode_database(train[:50])
    assert db.shape == (50, 3) and db.dtype == np.uint8
    q = train[50:56]
    dist = m.distances(q, db)
    rec = m.pq.decode(db).astype(np.float64)
    brute = ((q.astype(np.float64)[:, None] - rec[None]) ** 2).sum(2)
    np.testing.assert_allclose(dist, brute, rtol=1e-5)
    np.testing.assert_array_equal(np.argsort(dist, 1, kind="stable"), np.argsort(brute, 1, kind="stable"))


def test_state_dict_round_trip():
    m = DQN(24, kmeans_iters=3)
    x = np.tanh(np.random.default_rng(0).normal(size=(300, m.out_dim))).astype(np.float32)
    assert m.state_dict() == {}
    m.refit(x, None)
    state = m.state_dict()
    assert state["codebooks"].shape == (3, 256, 86) and state["codebooks"].dtype == torch.float32
    fresh = DQN(24)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.encode_database(x), m.encode_database(x))
    with pytest.raises(ConfigError, match="codebooks"):
        DQN(32).load_state_dict(state)
    assert math.isfinite(fresh.pq.quantization_error(x))


def test_dtq_state_restores_mining_draws():
    m = DTQ(12, kmeans_iters=2, margin_per_dim=1.0)
    rng = np.random.default_rng(1)
    m.refit(np.tanh(rng.normal(size=(40, m.out_dim))).astype(np.float32), None)
    z = torch.tanh(torch.randn(10, m.out_dim, generator=torch.Generator().manual_seed(2)))
    labels = _labels(b=10)
    m.loss(z, labels)  # advance the generator
    state = m.state_dict()
    assert set(state) == {"codebooks", "mining_generator_state"}
    expected = m.loss(z, labels)[1]["triplet"]
    resumed = DTQ(12, margin_per_dim=1.0)
    resumed.load_state_dict(state)
    assert resumed.loss(z, labels)[1]["triplet"] == expected
