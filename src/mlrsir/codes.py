"""The one binarisation and the one bit-packing used everywhere in mlrsir.

MLRSIR-NET (Moustafa et al., Eq. 5) turns the tanh output ``h`` of the hash head into
a binary code with ``b = 1 if h > 0 else 0``. ``torch.sign`` is *not* used because
``sign(0) == 0`` would produce a third value; the threshold here is explicit and a
value of exactly 0 becomes bit 0.

Codes are stored either unpacked, as ``uint8`` arrays of shape ``(N, k)`` holding
only 0 and 1, or packed, as ``uint8`` arrays of shape ``(N, ceil(k / 8))`` with the
first bit in the most significant position of the first byte (``numpy.packbits``
order). Padding bits of the last byte are always 0, so packing never changes a
Hamming distance.

It also holds the two validation rules about codes: :func:`check_bits` for a code
array and :func:`check_code_length` for a code length ``k``; every module that takes
either calls these (no other copy of the rules).
"""

from __future__ import annotations

import numpy as np

from mlrsir.errors import ConfigError

try:  # torch is a hard dependency of the package, but keep this module importable alone
    import torch
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]


def binarize(h):
    """Binary code from a relaxed code (Eq. 5 of the paper).

    Args:
        h: ``(N, k)`` real values, typically tanh outputs in (-1, 1); a torch tensor
           or a numpy array.

    Returns:
        Same container type, dtype ``uint8``, values exactly in {0, 1}:
        ``1`` where ``h > 0`` and ``0`` where ``h <= 0`` (NaN gives 0).

    >>> binarize(np.array([[-0.5, 0.0, 0.2]]))
    array([[0, 0, 1]], dtype=uint8)
    """
    if torch is not None and isinstance(h, torch.Tensor):
        return (h > 0).to(torch.uint8)
    return (np.asarray(h) > 0).astype(np.uint8)


# Upper bound of the code length of a *training* run (``TrainConfig.bits``). Codes,
# packing, Hamming distances and the index work for any length; the bound only refuses
# run configurations far outside the lengths the methods were designed and tuned for
# (12-64 bits), e.g. a mistyped ``--bits 3200`` that would build a huge hash head.
MAX_TRAIN_BITS = 256


class CodeLengthError(ConfigError, ValueError):
    """A code length that cannot be used. A :class:`ConfigError` (the CLI reports it as
    a user error) and a ``ValueError`` (the usual type for a bad argument value)."""


def check_code_length(bits, name: str = "bits", max_bits: int | None = None) -> int:
    """The one rule for a code length ``k``: a positive integer (``int`` or numpy
    integer, not ``bool``), at most ``max_bits`` when given. Returns it as ``int``.

    ``max_bits`` is only passed for training runs (:data:`MAX_TRAIN_BITS`); layouts
    with their own extra condition (product quantization needs ``k % 4 == 0``) check it
    after this rule.

    >>> check_code_length(np.int64(32))
    32
    """
    if not isinstance(bits, (int, np.integer)) or isinstance(bits, (bool, np.bool_)):
        raise CodeLengthError(f"{name}={bits!r}: the code length must be a positive integer ({name} must be >= 1)")
    if max_bits is not None and not 1 <= bits <= max_bits:
        raise CodeLengthError(f"{name} must be between 1 and {max_bits}, got {bits}")
    if bits < 1:
        raise CodeLengthError(f"{name} must be >= 1, got {bits}")
    return int(bits)


def check_bits(bits: np.ndarray, name: str = "codes") -> np.ndarray:
    """Validate an unpacked code array: 2-D, values only 0/1. Returns it as uint8."""
    arr = np.asarray(bits)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (N, bits), got shape {arr.shape}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = np.unique(arr[~np.isin(arr, (0, 1))])[:5]
        raise ValueError(f"{name}: codes must hold only 0 and 1, found {bad.tolist()}")
    return arr.astype(np.uint8, copy=False)


def pack_codes(bits: np.ndarray, num_bytes: int | None = None) -> np.ndarray:
    """Pack ``(N, k)`` {0,1} codes into ``(N, ceil(k/8))`` uint8 (MSB first).

    Args:
        bits: ``(N, k)`` array of 0/1.
        num_bytes: optional width of the output in bytes, ``>= ceil(k/8)``; the extra
            bytes are zero (used to pad codes to 4/8/16/32/64 bytes for faiss). Zero
            padding changes no Hamming distance.

    >>> pack_codes(np.array([[1, 0, 0, 0, 0, 0, 0, 1, 1]]))
    array([[129, 128]], dtype=uint8)
    """
    arr = check_bits(bits)
    packed = np.packbits(arr, axis=1)
    if num_bytes is not None:
        if num_bytes < packed.shape[1]:
            raise ValueError(f"num_bytes={num_bytes} is smaller than the {packed.shape[1]} bytes needed")
        out = np.zeros((packed.shape[0], num_bytes), dtype=np.uint8)
        out[:, : packed.shape[1]] = packed
        packed = out
    return np.ascontiguousarray(packed)


def unpack_codes(packed: np.ndarray, num_bits: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: ``(N, B)`` uint8 -> ``(N, num_bits)`` uint8 in {0,1}."""
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.ndim != 2 or packed.shape[1] * 8 < num_bits:
        raise ValueError(f"packed codes of shape {packed.shape} cannot hold {num_bits} bits")
    return np.unpackbits(packed, axis=1, count=num_bits)
