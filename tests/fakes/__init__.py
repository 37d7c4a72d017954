"""Test doubles shared by the test packages (no torch, no trained model)."""
