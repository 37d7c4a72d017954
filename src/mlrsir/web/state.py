"""The state of one web application: everything its routes use, in one object.

:func:`mlrsir.web.app.create_app` builds a :class:`WebState` and stores it as
``app.state.web``; routes get it with ``Depends(get_state)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from mlrsir.web.imaging import UploadDecoder
from mlrsir.web.service import RetrievalService


@dataclass
class WebState:
    """Args:
    service: search and item access over the index and the encoder.
    max_upload_bytes: largest accepted upload; larger ones get HTTP 413.
    owns_index: the app opened the index itself and closes it at shutdown.
    decoder: decodes uploads with a pixel cap and a bound on concurrent decodes.
    basemap: XYZ tile template of the map view's basemap (``--basemap``), None when none.
    """

    service: RetrievalService
    max_upload_bytes: int
    owns_index: bool
    decoder: UploadDecoder = field(default_factory=UploadDecoder)
    basemap: str | None = None


def get_state(request: Request) -> WebState:
    """FastAPI dependency: the :class:`WebState` of the application serving ``request``."""
    return request.app.state.web
