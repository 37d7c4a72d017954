"""CBAM spatial attention maps of the web app, as one overlay rendered in two encodings.

``GET /api/items/{id}/attention`` and ``POST /api/attention`` answer the PNG; a search
with ``attention=true`` embeds the same overlay as a ``data:`` URL. The map is
``Encoder.spatial_attention`` (``(H, W)`` in ``[0, 1]``) blended over the image by
:func:`mlrsir.web.imaging.attention_overlay`.

Off the hot path (the page asks for the map right after each search):

- the PNG of each query is kept in a bounded LRU (:class:`~mlrsir.web.cache.BytesLRU`),
  keyed by the item id and its stored path, or by the SHA-256 of an upload's bytes, so a
  map asked again costs a dictionary look-up;
- a search by upload runs the model once for both: the encoder's
  ``encode_images_with_attention`` gives the code and the CBAM gate (``(1, P, P)``, a few
  hundred bytes) from the same forward pass, and the gate is kept (another bounded LRU) for
  the ``POST /api/attention`` of the same bytes, which then only renders;
- rendering runs in the server's thread pool (the routes are sync or use
  ``run_in_threadpool``), never on the event loop.

The cached and fresh paths give the same map: the gate is the very tensor
``spatial_attention`` upsamples (``Encoder.attention_from_gate``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager

import numpy as np
from PIL import Image

from mlrsir.errors import ConfigError
from mlrsir.web import imaging
from mlrsir.web.cache import BytesLRU

PNG_CACHE_BYTES = 32 * 1024 * 1024
"""Bound of the rendered-PNG cache (a 256 px UCM overlay is ~100-200 kB)."""

GATE_CACHE_ITEMS = 1024
"""Bound of the upload-gate cache (entries of ``4 P^2`` bytes, ~200 B at ``P = 7``)."""


def upload_key(data: bytes) -> str:
    """Cache key of an upload: the SHA-256 of its bytes (hex)."""
    return hashlib.sha256(data).hexdigest()


class AttentionMaps:
    """Args:
    encoder: an ``Encoder`` (``spatial_attention(image) -> (H, W)``; when it also has
        ``encode_images_with_attention`` and ``attention_from_gate``, a search by upload
        keeps its gate, see the module docstring).
    encoder_slot: held while the encoder runs (bounds concurrent model passes).
    png_cache: the rendered PNGs (default: :data:`PNG_CACHE_BYTES`, 1024 entries).
    """

    def __init__(self, encoder, encoder_slot: AbstractContextManager, png_cache: BytesLRU | None = None):
        self.encoder = encoder
        self._slot = encoder_slot
        self.pngs = png_cache if png_cache is not None else BytesLRU(max_items=1024, max_bytes=PNG_CACHE_BYTES)
        self.gates = BytesLRU(max_items=GATE_CACHE_ITEMS, max_bytes=GATE_CACHE_ITEMS * 4096)
        self.same_pass = hasattr(encoder, "encode_images_with_attention") and hasattr(encoder, "attention_from_gate")

    # ------------------------------------------------------------------ maps
    def _map(self, image: Image.Image, gate: np.ndarray | None = None) -> np.ndarray:
        """``(H, W)`` in [0, 1]: from a kept gate, or a model pass; ConfigError when the model has none."""
        try:
            if gate is not None:
                return self.encoder.attention_from_gate(gate, image.width, image.height)
            with self._slot:
                return self.encoder.spatial_attention(image)
        except Exception as exc:  # e.g. a model without CBAM
            raise ConfigError(f"no attention map for this model ({type(exc).__name__}: {exc})") from None

    def overlay(self, image: Image.Image, gate: np.ndarray | None = None) -> Image.Image:
        """The attention map blended over ``image``; ConfigError when the model has none."""
        return imaging.attention_overlay(image, self._map(image, gate))

    def png(self, image: Image.Image) -> bytes:
        """PNG bytes of :meth:`overlay` (not cached)."""
        return imaging.png_bytes(self.overlay(image))

    def inline(self, image: Image.Image | None) -> tuple[str | None, str | None]:
        """``(data URL, None)`` of :meth:`overlay`, or ``(None, why)`` when there is none
        (no image, or a model without attention): a search's result stands without it."""
        if image is None:
            return None, "the query image could not be read"
        try:
            return imaging.data_url_png(self.overlay(image)), None
        except ConfigError as exc:
            return None, str(exc)

    # ------------------------------------------------------------------ cached
    def cached_png(self, key: Hashable, read_image: Callable[[], Image.Image]) -> bytes:
        """The PNG of ``key`` (``("item", id, path)`` or ``("upload", sha256)``) from the cache,
        else rendered from ``read_image()`` (with the upload's kept gate when there is one)
        and cached."""

        def make() -> bytes:
            image = read_image()
            gate = self.kept_gate(key[1]) if key[0] == "upload" else None
            return imaging.png_bytes(self.overlay(image, gate))

        return self.pngs.get_or_create(key, make)

    def encode_query(self, image: Image.Image, upload: str | None):
        """``(codes (1, bits), outputs (1, D))`` of a query image, as ``encoder.encode_images``;
        with an ``upload`` key and an encoder that gives its gate in the same pass, the gate
        is kept for that upload's map. The caller holds the encoder slot."""
        if upload is None or not self.same_pass:
            return self.encoder.encode_images([image])
        codes, outputs, gates = self.encoder.encode_images_with_attention([image])
        gate = np.ascontiguousarray(gates[0], dtype=np.float32)
        header = np.asarray([gate.ndim, *gate.shape], np.int32).tobytes()
        self.gates.put(upload, header + gate.tobytes())
        return codes, outputs

    def kept_gate(self, upload: str) -> np.ndarray | None:
        """The gate kept by :meth:`encode_query` for an upload, or None."""
        raw = self.gates.get(upload)
        if raw is None:
            return None
        ndim = int(np.frombuffer(raw[:4], np.int32)[0])
        shape = tuple(int(v) for v in np.frombuffer(raw[4 : 4 + 4 * ndim], np.int32))
        return np.frombuffer(raw[4 + 4 * ndim :], np.float32).reshape(shape)
