"""Slow, obviously-correct reference implementations used as test oracles (per-query loops)."""

from __future__ import annotations

import itertools
import math

import numpy as np


def ap_of_order(rel_in_order, k=None, denominator="all"):
    """AP of one ranked relevance list by a plain loop.

    denominator: "all" (R of the whole list), "retrieved" (relevant in top k),
    "min_rk" (min(R, k)).
    """
    rel = [bool(x) for x in rel_in_order]
    k = len(rel) if k is None else min(k, len(rel))
    hits, total = 0, 0.0
    for i in range(k):
        if rel[i]:
            hits += 1
            total += hits / (i + 1)
    if denominator == "all":
        den = sum(rel)
    elif denominator == "retrieved":
        den = hits
    else:
        den = min(sum(rel), k)
    return total / den if den else 0.0


def stable_ranking(dist_row):
    return sorted(range(len(dist_row)), key=lambda j: (dist_row[j], j))


def tie_orderings(dist_row):
    """Every ordering of the items consistent with the distances (all orders inside ties)."""
    n = len(dist_row)
    for perm in itertools.permutations(range(n)):
        if all(dist_row[perm[i]] <= dist_row[perm[i + 1]] for i in range(n - 1)):
            yield perm


def brute_force_expectation(dist_row, values, metric):
    """Mean of ``metric([values[j] for j in order])`` over all tie-consistent orders."""
    results = [metric([values[j] for j in order]) for order in tie_orderings(dist_row)]
    return sum(results) / len(results)


def dcg(gains_in_order, k):
    return sum((2.0**g - 1.0) / math.log2(i + 2) for i, g in enumerate(gains_in_order[:k]))


def ndcg_of_order(gains_in_order, all_gains, k):
    ideal = dcg(sorted(all_gains, reverse=True), k)
    return dcg(gains_in_order, k) / ideal if ideal > 0 else 0.0


def precision_of_order(rel_in_order, k):
    k = min(k, len(rel_in_order))
    return sum(bool(x) for x in rel_in_order[:k]) / k


def random_case(rng, n, num_values, p_rel=0.4):
    dist = rng.integers(0, num_values, size=n)
    rel = rng.random(n) < p_rel
    return dist, rel


def as_matrix(*rows):
    return np.array(rows)
