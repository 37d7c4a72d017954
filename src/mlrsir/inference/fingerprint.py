"""The model fingerprint, and the one check that an encoder can be used with an index.

An index stores the binary codes of one model. The model's *fingerprint* (built by
:func:`model_fingerprint`, carried by :class:`~mlrsir.inference.encoder.Encoder` as
``encoder.fingerprint`` and stored by :class:`~mlrsir.index.store.CodeIndex` in its
metadata) identifies that model: code length, backbone, method, input size and the
SHA-256 of the weights file. :func:`check_encoder_compatible` (CLI ``search``,
``index add``, the web app) and :func:`check_fingerprint` (``CodeIndex.open(...,
expected_fingerprint=...)``) refuse a model whose codes would not be comparable with the
stored ones. ``index build`` also stores the ``runtime`` and ``precision`` of the codes in the
index's fingerprint (not compared: fp32 runtimes agree up to float rounding); an encoder at
another precision gets a warning (:func:`precision_warning`). This module imports neither
torch nor the index.
"""

from __future__ import annotations

import hashlib
import json
import sys
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


def precision_warning(stored: dict | None, encoder, where: Any = "index") -> str | None:
    """The warning when an encoder runs at another precision than the one the index's codes
    were made at (None when equal, or when either side does not say).

    ``stored``: the index's fingerprint, whose ``runtime`` / ``precision`` keys ``index build``
    records (``encoder.encoding``); indexes built before they existed record neither.
    """
    had = (stored or {}).get("precision")
    has = getattr(encoder, "precision", None)
    if had is None or has is None or had == has:
        return None
    return (
        f"{where}: the index's codes were made at {had} ({(stored or {}).get('runtime', '?')} runtime) but "
        f"this encoder runs at {has} ({getattr(encoder, 'runtime', '?')} runtime); a few bits per code differ, "
        f"so distances and ranks shift (use --precision {had} for exact results)"
    )


def _print_warning(message: str) -> None:
    print(f"mlrsir: warning: {message}", file=sys.stderr, flush=True)


def check_encoder_compatible(encoder, index, where: Any = None, warn=_print_warning) -> None:
    """The one compatibility check of an encoder and an opened index.

    Checks, in order: binary codes (:func:`check_binary_codes`), code length, then the
    fingerprint (:func:`check_fingerprint`); a precision differing from the index's is not an
    error but is passed to ``warn`` (:func:`precision_warning`).

    Args:
        encoder: has ``bits``, ``fingerprint``, ``run_dir`` and ``retrieval`` (``runtime`` and
            ``precision`` when it says them).
        index: has ``bits`` and ``fingerprint`` (a ``CodeIndex`` or a stand-in).
        where: how messages name the index (default: its database file).
        warn: called with the warning text (default: ``mlrsir: warning: ...`` on stderr).

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
    message = precision_warning(index.fingerprint, encoder, where)
    if message is not None:
        warn(message)
