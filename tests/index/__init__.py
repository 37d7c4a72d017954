"""Tests of mlrsir.index and its CLI."""
