"""Pixels of indexed items for the web app: the image, its thumbnail, the file for the browser.

An image file is read with :func:`mlrsir.data.images.read_rgb`; a scene tile (an item with
``geo``) through :func:`mlrsir.inference.search.read_raster_image` with the index's stored
radiometry and the tile's bands, the read ``mlrsir search --query`` does. Files come from
the stored records only (relative paths joined to the archive root), never from a request.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PIL import Image

from mlrsir.data.images import read_rgb
from mlrsir.errors import DataError
from mlrsir.inference.search import read_raster_image
from mlrsir.web import imaging
from mlrsir.web.cache import BytesLRU


class ItemNotFound(LookupError):
    """No indexed item (or scene) with this id, or its image file cannot be read (HTTP 404)."""


class ItemImages:
    """Reads and caches the images of indexed items.

    Args:
        record: ``record(item_id)`` -> the stored record (ItemNotFound for an unknown id).
        radiometry: returns the index's stored radiometry dict, or None when it holds none.
        archive_root: folder that relative paths stored in the index are relative to.
        thumbnail_cache: cache of thumbnail JPEG bytes.
    """

    def __init__(
        self,
        record: Callable[[int], dict],
        radiometry: Callable[[], dict | None],
        archive_root: Path | None = None,
        thumbnail_cache: BytesLRU | None = None,
    ):
        self._record = record
        self._radiometry = radiometry
        self.archive_root = Path(archive_root) if archive_root is not None else None
        self.thumbnails = thumbnail_cache or BytesLRU()

    def resolve_path(self, record: dict) -> Path:
        """Server-side file of a record (relative paths are joined to :attr:`archive_root`)."""
        path = Path(record["path"])
        if not path.is_absolute() and self.archive_root is not None:
            path = self.archive_root / path
        return path

    def read(self, item_id: int) -> Image.Image:
        """RGB image of an indexed item; ItemNotFound when its file cannot be read."""
        record = self._record(item_id)
        try:
            if record.get("geo"):  # a tile of a scene: its window, with the index's radiometry
                radiometry = self._radiometry()
                if radiometry is None:
                    raise DataError("the index stores no radiometry")
                return read_raster_image(str(record["path"]), radiometry, record["geo"].get("bands"))
            return read_rgb(self.resolve_path(record))
        except DataError:
            raise ItemNotFound(f"the image file of item {item_id} cannot be read") from None

    def thumbnail(self, item_id: int) -> bytes:
        """JPEG thumbnail bytes (longest side <= 256 px), cached in memory."""
        return self.thumbnails.get_or_create(int(item_id), lambda: imaging.thumbnail_bytes(self.read(item_id)))

    def image_file(self, item_id: int) -> tuple[bytes, str]:
        """``(bytes, media type)`` for the browser: the file itself when browsers can show it, else PNG."""
        record = self._record(item_id)
        path = self.resolve_path(record)
        media_type = imaging.BROWSER_FORMATS.get(path.suffix.lower())
        if media_type is not None:
            try:
                return path.read_bytes(), media_type
            except OSError:
                raise ItemNotFound(f"the image file of item {item_id} cannot be read") from None
        return imaging.png_bytes(self.read(item_id)), "image/png"
