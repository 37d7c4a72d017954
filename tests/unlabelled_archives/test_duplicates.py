"""Near-duplicate groups against the brute-force oracle, and ``mlrsir index duplicates``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlrsir.cli.main import main
from mlrsir.codes import pack_codes
from mlrsir.errors import ConfigError
from mlrsir.index.duplicates import brute_force_groups, duplicate_groups, synthetic_near_copies
from tests.fakes.encoder import fake_encoder  # noqa: F401


@pytest.mark.parametrize(
    "bits, radius", [(12, 0), (12, 1), (12, 2), (12, 3), (32, 0), (32, 1), (32, 2), (32, 3), (32, 4), (70, 1), (70, 2)]
)
def test_groups_match_brute_force(bits, radius):
    ids, codes = synthetic_near_copies(240, bits=bits, cluster=4, flips=3, seed=bits + radius)
    ids = ids * 7 + 3  # ids need not be positions
    assert duplicate_groups(ids, pack_codes(codes), bits, radius) == brute_force_groups(ids, codes, radius)


def test_chains_are_one_component_and_bad_radius():
    codes = np.zeros((4, 16), np.uint8)
    codes[1, :2] = 1  # d(0,1) = 2
    codes[2, :4] = 1  # d(1,2) = 2, d(0,2) = 4
    codes[3, 8:16] = 1  # far
    assert duplicate_groups([1, 2, 3, 4], pack_codes(codes), 16, 2) == [[1, 2, 3]]
    assert duplicate_groups([1, 2, 3, 4], pack_codes(codes), 16, 1) == []
    with pytest.raises(ConfigError):
        duplicate_groups([1, 2], pack_codes(codes[:2]), 16, -1)


def test_cli(unlabelled_index, capsys):
    capsys.readouterr()
    assert main(["index", "duplicates", "--index", str(unlabelled_index), "--radius", "0", "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)
    # allblue.png and known.png are the same picture: identical codes
    assert [sorted(x["path"].rsplit("/", 1)[-1] for x in g) for g in groups] == [["allblue.png", "known.png"]]
    assert main(["index", "duplicates", "--index", str(unlabelled_index), "--radius", "12"]) == 0
    assert "1 groups of near duplicates (Hamming radius 12) covering 5 of 5 items" in capsys.readouterr().out
