"""The model fingerprint, and the one check that an encoder can be used with an index.

An index stores the binary codes of one model. The model's *fingerprint* (built by
:func:`model_fingerprint`, carried by :class:`~mlrsir.inference.encoder.Encoder` as
``encoder.fingerprint`` and stored by :class:`~mlrsir.index.store.CodeIndex` in its
metadata) identifies that model: code length, backbone, method, input size and the
SHA-256 of the weights file. :func:`check_encoder_compatible` (CLI ``search``,
``index add``, the web app) and :func:`check_fingerprint` (``CodeIndex.open(...,
expected_fingerprint=...)``) refuse a model whose codes would not be comparable with the
stored ones. This module imports neither torch nor the index.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mlrsir.errors import ConfigError, IndexStoreError

FINGERPRINT_KEYS = ("bits", "backbone", "method", "image_size", "weights_sha256")
"""Keys of a fingerprint; the compatibility check compares exactly these."""


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(config: Any, weights_path: str | Path) -> dict[str, Any]:
    """Fingerprint of a trained model: its ``TrainConfig`` and its weights file."""
    return {
        "bits": config.bits,
        "backbone": config.backbone,
        "method": config.method,
        "image_size": config.image_size,
        "weights_sha256": file_sha256(weights_path),
    }


def _canonical(fingerprint: dict | None) -> dict:
    """JSON round trip, so tuples/lists and int/str values compare like stored values."""
    return json.loads(json.dumps(dict(fingerprint or {}), sort_keys=True, default=str))


def fingerprint_differences(stored: dict | None, expected: dict | None) -> list[str]:
    """``"key: index has X, model has Y"`` for every key of :data:`FINGERPRINT_KEYS`
    whose values differ (a key missing on one side counts as ``None``)."""
    stored, expected = _canonical(stored), _canonical(expected)
    return [
        f"{key}: index has {stored.get(key)!r}, model has {expected.get(key)!r}"
        for key in FINGERPRINT_KEYS
        if stored.get(key) != expected.get(key)
    ]


def check_fingerprint(stored: dict | None, expected: dict | None, *, where: Any, model: str | None = None) -> None:
    """Refuse a model whose fingerprint differs from the one an index was built with.

    Args:
        stored: the index's fingerprint.
        expected: the model's fingerprint.
        where: the index (its database file or folder), named first in the message.
        model: how the message names the model (e.g. ``"run RUN_DIR"``), if at all.

    Raises:
        IndexStoreError: naming every differing key with both values.
    """
    diffs = fingerprint_differences(stored, expected)
    if diffs:
        raise IndexStoreError(
            f"{where}: the index was built by another model{f' than {model}' if model else ''} "
            f"({'; '.join(diffs)}); "
            "rebuild the index with `mlrsir index build` or use the model it was built with"
        )


def check_binary_codes(encoder) -> None:
    """Refuse asymmetric-quantizer runs (DQN/DTQ): an index stores binary codes only.

    Raises:
        ConfigError: the encoder's retrieval is not Hamming distance on binary codes.
    """
    retrieval = getattr(encoder, "retrieval", "hamming")
    if retrieval != "hamming":
        raise ConfigError(
            f"run {getattr(encoder, 'run_dir', '?')}: the index stores binary codes; the run uses "
            f"{retrieval!r} retrieval (asymmetric quantizer distance); use `mlrsir evaluate` for it"
        )


def check_encoder_compatible(encoder, index, where: Any = None) -> None:
    """The one compatibility check of an encoder and an opened index.

    Checks, in order: binary codes (:func:`check_binary_codes`), code length, then the
    fingerprint (:func:`check_fingerprint`).

    Args:
        encoder: has ``bits``, ``fingerprint``, ``run_dir`` and ``retrieval``.
        index: has ``bits`` and ``fingerprint`` (a ``CodeIndex`` or a stand-in).
        where: how messages name the index (default: its database file).

    Raises:
        ConfigError: the run uses asymmetric quantizer distances.
        IndexStoreError: code lengths or fingerprints differ.
    """
    if where is None:
        where = getattr(index, "db_path", None) or getattr(index, "path", None) or "index"
    check_binary_codes(encoder)
    if int(encoder.bits) != int(index.bits):
        raise IndexStoreError(
            f"{where}: the index stores {index.bits}-bit codes but the encoder makes {encoder.bits}-bit codes"
        )
    check_fingerprint(
        index.fingerprint, encoder.fingerprint, where=where, model=f"run {getattr(encoder, 'run_dir', '?')}"
    )
