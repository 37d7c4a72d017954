"""The optional basemap of the map view (``mlrsir serve --basemap URL``).

``URL`` is an XYZ tile template such as ``https://tile.example.org/{z}/{x}/{y}.png``: an
``http``/``https`` address with the placeholders ``{z}``, ``{x}`` and ``{y}`` (``{s}``
subdomains are not expanded). The page adds it as a raster layer under the scenes; the
server never fetches it. Its origin is added to the page's Content-Security-Policy
(``img-src`` and ``connect-src``: MapLibre fetches tiles), nothing else is allowed.
None by default: the page then draws the scenes on a plain background.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mlrsir.errors import ConfigError

PLACEHOLDERS = ("{z}", "{x}", "{y}")


def check_basemap(url: str) -> str:
    """The template's origin (``scheme://host[:port]``); ConfigError naming the URL and the
    problem when it is not an http(s) XYZ template."""
    text = str(url).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"--basemap {url!r}: expected an http(s) URL template, e.g. https://host/{{z}}/{{x}}/{{y}}.png"
        )
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise ConfigError(
            f"--basemap {url!r}: the template lacks {', '.join(missing)} (XYZ tiles need {{z}}, {{x}}, {{y}})"
        )
    if any(c in parts.netloc for c in "{}; '\""):
        raise ConfigError(f"--basemap {url!r}: the host part may not contain placeholders, spaces or quotes")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(base: str, origin: str | None) -> str:
    """``base`` (the app's policy) with ``origin`` added to ``img-src`` and ``connect-src``."""
    if not origin:
        return base
    out = []
    for directive in base.split(";"):
        name = directive.strip().split(" ", 1)[0]
        out.append(f"{directive.rstrip()} {origin}" if name in ("img-src", "connect-src") else directive)
    return ";".join(out)
