"""CBAM spatial attention maps of the web app, as one overlay rendered in two encodings.

``GET /api/items/{id}/attention`` and ``POST /api/attention`` answer the PNG; a search
with ``attention=true`` embeds the same overlay as a ``data:`` URL. The map is
``Encoder.spatial_attention`` (``(H, W)`` in ``[0, 1]``) blended over the image by
:func:`mlrsir.web.imaging.attention_overlay`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from PIL import Image

from mlrsir.errors import ConfigError
from mlrsir.web import imaging


class AttentionMaps:
    """Args:
    encoder: an ``Encoder`` (``spatial_attention(image) -> (H, W)``).
    encoder_slot: held while the encoder runs (bounds concurrent model passes).
    """

    def __init__(self, encoder, encoder_slot: AbstractContextManager):
        self.encoder = encoder
        self._slot = encoder_slot

    def overlay(self, image: Image.Image) -> Image.Image:
        """The attention map blended over ``image``; ConfigError when the model has none."""
        try:
            with self._slot:
                att = self.encoder.spatial_attention(image)
        except Exception as exc:  # e.g. a model without CBAM
            raise ConfigError(f"no attention map for this model ({type(exc).__name__}: {exc})") from None
        return imaging.attention_overlay(image, att)

    def png(self, image: Image.Image) -> bytes:
        """PNG bytes of :meth:`overlay`."""
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
