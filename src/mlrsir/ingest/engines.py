"""Engines: where a chunk of :class:`~mlrsir.sources.SourceItem` is encoded.

An engine has ``bits`` and ``encode_chunks(chunks) -> iterator of (chunk, Encoded)``, in
the order of the chunks; the fill loop (:func:`mlrsir.ingest.fill.fill_index`) adds each
encoded chunk in one transaction. :class:`LocalEngine` encodes in this process with the
run's encoder (image files through ``encode_paths``: threaded decode, the file's own size;
in-memory images through ``encode_images``); the Ray engine is
:class:`mlrsir.ingest.ray_engine.RayEngine`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from mlrsir.errors import DataError
from mlrsir.inference.fingerprint import check_binary_codes
from mlrsir.sources import SourceItem


@dataclass
class Encoded:
    """Codes of one chunk.

    Attributes:
        codes: ``(n, bits)`` uint8 in {0, 1}, one row per item (rows of failed items are 0).
        ok: ``(n,)`` bool, False where the item could not be read.
        errors: ``[(path, message)]`` of the failed items, in order.
        sizes: ``(width, height)`` per item as decoded, or None (unknown / failed).
    """

    codes: np.ndarray
    ok: np.ndarray
    errors: list[tuple[str, str]]
    sizes: list


def load_hashing_encoder(run_dir, runtime: str = "auto", precision: str = "fp32"):
    """:func:`mlrsir.inference.encoder.load_encoder` (looked up on its module at call time,
    so tests can replace it), refusing runs whose retrieval is not Hamming distance on
    binary codes (:func:`~mlrsir.inference.fingerprint.check_binary_codes`)."""
    import mlrsir.inference.encoder as encoder_module  # noqa: PLC0415 (torch: loaded only when encoding)

    chosen = {"runtime": runtime} if runtime != "auto" else {}  # stand-ins in tests take run_dir alone
    if precision != "fp32":
        chosen["precision"] = precision
    encoder = encoder_module.load_encoder(run_dir, **chosen)
    check_binary_codes(encoder)
    return encoder


def _reports_sizes(encoder) -> bool:
    """Whether ``encoder.encode_paths`` takes ``sizes=`` (the run's encoder does; stand-ins may not)."""
    try:
        return "sizes" in inspect.signature(encoder.encode_paths).parameters
    except (TypeError, ValueError):
        return False


def rows_per_input(codes, ok, n: int, bits: int) -> np.ndarray:
    """Codes with one row per input path: the encoder returns either that, or one row per
    readable file (``ok`` marks which); unreadable rows are left zero (never stored)."""
    codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits)
    ok = np.asarray(ok, dtype=bool)
    if codes.shape[0] == n:
        return codes
    if codes.shape[0] == int(ok.sum()):
        full = np.zeros((n, bits), dtype=np.uint8)
        full[ok] = codes
        return full
    raise ValueError(f"encoder returned {codes.shape[0]} codes for {n} paths ({int(ok.sum())} readable)")


class LocalEngine:
    """Encode in this process with ``encoder`` (a loaded run, or a test stand-in).

    Args:
        encoder: has ``bits``, ``encode_images`` and ``encode_paths``.
        batch_size: images per forward pass.
        strict: an unreadable file raises DataError instead of being reported.
    """

    def __init__(self, encoder, batch_size: int = 64, strict: bool = False):
        self.encoder = encoder
        self.bits = int(encoder.bits)
        self.batch_size = int(batch_size)
        self.strict = strict

    def encode_chunks(self, chunks: Iterable[list[SourceItem]]) -> Iterator[tuple[list[SourceItem], Encoded]]:
        for chunk in chunks:
            yield chunk, self.encode(chunk)

    def encode(self, chunk: list[SourceItem]) -> Encoded:
        n = len(chunk)
        if all(item.file is None for item in chunk):
            codes, _outputs = self.encoder.encode_images([item.image for item in chunk])
            return Encoded(rows_per_input(codes, np.ones(n, bool), n, self.bits), np.ones(n, bool), [], [None] * n)
        if any(item.file is None for item in chunk):
            raise ValueError("a chunk mixes image files and in-memory images")
        sizes: list = []  # (width, height) from the encoder's own decode: no second open
        codes, _outputs, ok, errors = self.encoder.encode_paths(
            [str(item.file) for item in chunk],
            batch_size=self.batch_size,
            progress=False,
            on_error="raise" if self.strict else "skip",
            **({"sizes": sizes} if _reports_sizes(self.encoder) else {}),
        )
        sizes = list(sizes) + [None] * (n - len(sizes))
        errors = [(str(p), str(m)) for p, m in errors]
        return Encoded(rows_per_input(codes, ok, n, self.bits), np.asarray(ok, dtype=bool), errors, sizes)

    def extra_summary(self) -> dict:
        return {}


def check_item_files(chunk: list[SourceItem]) -> None:
    """Raise DataError unless every item names a file (engines that decode remotely)."""
    for item in chunk:
        if item.file is None:
            raise DataError(f"{item.path}: this engine encodes image files only (scene tiles are encoded in-process)")
