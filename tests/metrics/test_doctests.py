"""Run the docstring examples of the metric modules."""

from __future__ import annotations

import doctest

import pytest

from mlrsir.metrics import curves, hamming, ranking, relevance


@pytest.mark.parametrize("module", [ranking, curves, hamming, relevance], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
