"""Tests of mlrsir.data."""
