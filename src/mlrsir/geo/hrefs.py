"""Which STAC asset hrefs a local Item may point at, and network timeouts for remote ones.

A local STAC Item's asset hrefs are followed only when they resolve inside a root the
user allowed: the Item's own folder tree by default, plus any ``--allow-href-root DIR``.
Remote hrefs (``http://``, ``https://``, ``s3://``) are followed only with
``--allow-remote-hrefs``; every other scheme (``ftp://``, ``/vsi...`` paths, ...) is refused.
``file://`` hrefs are local paths and follow the root rule. A refused href is named and
its asset skipped (:func:`mlrsir.geo.scene.open_scene`).

Remote reads go through GDAL with :data:`HTTP_OPTIONS` (connect and read timeouts in
seconds, retries); an environment variable of the same name set by the user wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

REMOTE_SCHEMES = ("http", "https", "s3")

HTTP_OPTIONS = {
    "GDAL_HTTP_CONNECTTIMEOUT": "10",
    "GDAL_HTTP_TIMEOUT": "30",
    "GDAL_HTTP_MAX_RETRY": "2",
    "GDAL_HTTP_RETRY_DELAY": "1",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
}
"""GDAL network settings for remote rasters (``GDAL_HTTP_TIMEOUT``: whole-request limit, s)."""


def http_options() -> dict[str, str]:
    """:data:`HTTP_OPTIONS` with the user's environment variables of the same names applied."""
    return {k: os.environ.get(k, v) for k, v in HTTP_OPTIONS.items()}


def is_remote(href: str) -> bool:
    """True for ``scheme://`` hrefs other than ``file://`` and for GDAL ``/vsi...`` paths."""
    text = str(href)
    return text.startswith("/vsi") or ("://" in text and not text.lower().startswith("file://"))


@dataclass(frozen=True)
class HrefPolicy:
    """Allowed places for asset hrefs.

    Attributes:
        roots: extra local folders (resolved) hrefs may point into, beside the Item's folder.
        allow_remote: follow http(s)/s3 hrefs.
    """

    roots: tuple[Path, ...] = ()
    allow_remote: bool = False

    @staticmethod
    def local_path(href: str) -> str:
        """``file://`` URL -> plain path; anything else unchanged."""
        if str(href).lower().startswith("file://"):
            return unquote(urlparse(str(href)).path)
        return str(href)

    def refusal(self, href: str, item_folder: Path | None) -> str | None:
        """Why ``href`` is refused (None: allowed). ``item_folder``: the Item JSON's folder, or
        None for an Item read over the network (whose local hrefs are all refused)."""
        text = str(href)
        if is_remote(text):
            scheme = urlparse(text).scheme.lower() if "://" in text else "vsi"
            if scheme not in REMOTE_SCHEMES:
                return f"scheme {scheme!r} is not supported (http, https or s3 with --allow-remote-hrefs)"
            if not self.allow_remote:
                return "remote href of a local STAC Item; pass --allow-remote-hrefs to follow it"
            return None
        if item_folder is None:
            return "local href of a STAC Item read over the network (only http(s)/s3 hrefs are followed)"
        target = Path(self.local_path(text)).resolve()
        for root in (Path(item_folder).resolve(), *(Path(r).resolve() for r in self.roots)):
            if target == root or root in target.parents:
                return None
        return (
            f"resolves to {target}, outside the Item's folder {Path(item_folder).resolve()}"
            " (allow another folder with --allow-href-root DIR)"
        )
