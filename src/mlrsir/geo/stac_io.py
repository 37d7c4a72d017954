"""Reading STAC JSON (catalogues, collections, Items, API pages) with timeouts, errors named by URL.

Every read goes through one pystac-client :class:`~pystac_client.stac_api_io.StacApiIO`
(requests) made by :func:`stac_io`: connect timeout :data:`CONNECT_TIMEOUT` s, read timeout
:data:`READ_TIMEOUT` s, :data:`MAX_RETRIES` retries of 502/503/504 answers (urllib3's
backoff). Local paths are read from disk. A read that fails (network error, HTTP error
status, not JSON, not an object) raises :class:`~mlrsir.errors.DataError` naming the URL
and what was wrong.
"""

from __future__ import annotations

import json

from mlrsir.errors import DataError

CONNECT_TIMEOUT = 10.0
"""Seconds to connect to a STAC server."""
READ_TIMEOUT = 30.0
"""Seconds to wait for (each chunk of) an answer."""
MAX_RETRIES = 2
"""Retries of a request answered 502/503/504 (pystac-client's urllib3 retry, with backoff)."""


def stac_io():
    """A pystac-client ``StacApiIO`` with the timeouts and retries of this module (DataError without it)."""
    try:
        from pystac_client.stac_api_io import StacApiIO  # noqa: PLC0415 (pystac-client: the stac extra)
    except ImportError:
        raise DataError("--stac needs pystac-client (pip install 'mlrsir[stac]')") from None

    return StacApiIO(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), max_retries=MAX_RETRIES)


def timeouts_note() -> str:
    return f"timeouts: connect {CONNECT_TIMEOUT:g} s, read {READ_TIMEOUT:g} s, {MAX_RETRIES} retries"


def read_json(href, io=None, what: str = "STAC JSON", **request) -> dict:
    """The JSON object at ``href`` (URL, local path or a pystac ``Link``; ``request``: ``method``,
    ``parameters`` of a search). DataError naming the URL when it cannot be read or is no object."""
    from pystac_client.exceptions import APIError  # noqa: PLC0415 (pystac-client: the stac extra)

    io = io or stac_io()
    name = getattr(href, "href", href)
    try:
        text = io.read_text(href, **request)
    except APIError as exc:
        status = getattr(exc, "status_code", None)
        code = f"HTTP {status}: " if status else ""
        raise DataError(f"{name}: {what} could not be read ({code}{_short(exc)}; {timeouts_note()})") from None
    except OSError as exc:
        raise DataError(f"{name}: {what} could not be read ({type(exc).__name__}: {exc})") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: {what} is not JSON ({exc}; starts with {text[:60]!r})") from None
    if not isinstance(data, dict):
        raise DataError(f"{name}: {what} is not a JSON object (got a JSON {type(data).__name__})")
    return data


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + " ..."


def item_from_dict(data: dict, href: str | None, where: str):
    """A ``pystac.Item`` from a feature dict (self href set to ``href`` when given); DataError
    naming ``where`` (page URL, file) and the feature when it is not a readable Item."""
    import pystac  # noqa: PLC0415 (pystac only for STAC Items)

    ident = data.get("id") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("type") != "Feature" or not isinstance(ident, str):
        got = f"type {data.get('type')!r}, id {ident!r}" if isinstance(data, dict) else type(data).__name__
        raise DataError(f"{where}: not a STAC Item (expected a Feature with a string id, got {got})")
    try:
        item = pystac.Item.from_dict(data, href=href, migrate=True, preserve_dict=False)
    except (KeyError, ValueError, TypeError, AttributeError, pystac.STACError, pystac.STACTypeError) as exc:
        raise DataError(f"{where}: STAC Item {ident!r} is not readable ({type(exc).__name__}: {exc})") from None
    if href:
        item.set_self_href(href)
    return item


def read_item(href: str, io=None):
    """The STAC Item at ``href`` (its self href: ``href``)."""
    return item_from_dict(read_json(href, io, "STAC Item"), href, href)
