"""STAC Items as scenes: a STAC API searched with pystac-client, or a static catalogue walked.

``index build|add --stac URL`` names one of

* a **STAC API** (its landing page conforms to ``item-search`` or links ``rel=search``):
  searched with pystac-client (``collections``, ``bbox``, ``datetime``; ``eo:cloud_cover <=``
  sent as a ``query`` (Query extension) or a CQL2 ``filter`` when the API conforms to one);
* a **static catalogue or collection** (``catalog.json``, ``collection.json``; local path or
  URL): walked through its ``child`` and ``item`` links (depth-first, in link order);
* an **ItemCollection** (``FeatureCollection`` JSON) or one **Item**.

Streaming and bounded: items are yielded one page (API) or one link (static) at a time, never
all held; at most :attr:`StacQuery.max_items` are yielded and at most
``max_items / page_size + 2`` pages read (a ``next`` link seen twice ends the walk). Every
read has the timeouts of :mod:`mlrsir.geo.stac_io`. Every item is checked against the query
here too (collections, bbox, datetime, ``max_cloud``), whatever the server did: an item
outside it is counted (:attr:`StacScenes.counts`) and skipped; with ``max_cloud`` an item
without ``eo:cloud_cover`` is skipped too (as ``search --max-cloud`` drops tiles without a
cloud fraction).

A walk that fails after the landing page (a malformed or unreachable page, an item that is
not an Item) raises :class:`~mlrsir.errors.DataError` naming the URL; the scenes already
yielded stay yielded (the index keeps their tiles).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urljoin

from mlrsir.errors import ConfigError, DataError
from mlrsir.geo.hrefs import HrefPolicy
from mlrsir.geo.remote import is_remote_url
from mlrsir.geo.scene import Scene, item_scene
from mlrsir.geo.stac_io import item_from_dict, read_json, stac_io

DEFAULT_MAX_ITEMS = 1000
"""Items taken when ``--max-items`` is not given (the walk is always bounded)."""
PAGE_SIZE = 100
"""Items asked per page of a STAC API search (``limit``)."""
MAX_DEPTH = 16
"""Deepest ``child`` link followed in a static catalogue."""

_ITEM_SEARCH = ("/item-search", "item-search")
_QUERY = "/item-search#query"
_FILTER = "/item-search#filter"


@dataclass(frozen=True)
class StacQuery:
    """What ``--stac`` asks for.

    Attributes:
        url: API landing page, static catalogue / collection / ItemCollection / Item (URL or path).
        collections: collection ids (None: any).
        bbox: ``[west, south, east, north]`` lon/lat degrees (None: anywhere).
        datetime: ``"START/END"`` (``..`` open), or one instant / date (a date is its whole day).
        max_cloud: largest cloud fraction 0..1 (``eo:cloud_cover`` / 100); None: no filter.
        max_items: most items taken (>= 1).
        page_size: items per API page (None: :data:`PAGE_SIZE`).
    """

    url: str
    collections: tuple[str, ...] | None = None
    bbox: tuple[float, float, float, float] | None = None
    datetime: str | None = None
    max_cloud: float | None = None
    max_items: int = DEFAULT_MAX_ITEMS
    page_size: int | None = None

    @property
    def page(self) -> int:
        """Items asked per API page: ``page_size``, else :data:`PAGE_SIZE`, at most ``max_items``."""
        return max(1, min(self.page_size or PAGE_SIZE, self.max_items))

    def check(self) -> None:
        if self.max_items < 1:
            raise ConfigError(f"--max-items {self.max_items}: must be >= 1")
        if self.max_cloud is not None and not 0 <= self.max_cloud <= 1:
            raise ConfigError(f"--max-cloud {self.max_cloud}: a cloud fraction is between 0 and 1")
        time_range(self.datetime)


def _parse_instant(text: str, end: bool) -> datetime:
    """``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (the start, or with ``end`` the last instant, of that
    period) or an ISO datetime (UTC when it has no zone) -> an aware datetime."""
    text = text.strip()
    try:
        if len(text) in (4, 7, 10) and "T" not in text:
            parts = [int(p) for p in text.split("-")]
            y, m, d = (parts + [1, 1])[:3]
            start = datetime(y, m, d, tzinfo=timezone.utc)
            if not end:
                return start
            if len(parts) == 1:
                return datetime(y, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
            if len(parts) == 2:
                nxt = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=timezone.utc)
                return datetime.fromtimestamp(nxt.timestamp() - 1e-6, timezone.utc)
            return start.replace(hour=23, minute=59, second=59, microsecond=999999)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--datetime {text!r}: expected an ISO date or datetime (or START/END, '..' open)") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def time_range(text: str | None) -> tuple[datetime | None, datetime | None]:
    """``(start, end)`` of a ``--datetime`` value (None: open); ConfigError when malformed or reversed."""
    if not text:
        return None, None
    first, sep, second = str(text).partition("/")
    if not sep:
        second = first
    start = None if first.strip() in ("", "..") else _parse_instant(first, end=False)
    stop = None if second.strip() in ("", "..") else _parse_instant(second, end=True)
    if start and stop and start > stop:
        raise ConfigError(f"--datetime {text!r}: the start is after the end")
    return start, stop


def _item_times(item) -> tuple[datetime | None, datetime | None]:
    props = item.properties
    if item.datetime is not None:
        return _aware(item.datetime), _aware(item.datetime)
    start, end = props.get("start_datetime"), props.get("end_datetime")
    parse = lambda t: _aware(datetime.fromisoformat(str(t).replace("Z", "+00:00"))) if t else None
    try:
        return parse(start), parse(end)
    except ValueError:
        return None, None


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _boxes(bbox) -> list[tuple[float, float, float, float]]:
    w, s, e, n = bbox
    return [(w, s, 180.0, n), (-180.0, s, e, n)] if w > e else [(w, s, e, n)]


def _intersects(a, b) -> bool:
    return any(x[0] <= y[2] and y[0] <= x[2] and x[1] <= y[3] and y[1] <= x[3] for x in _boxes(a) for y in _boxes(b))


def refusal(item, query: StacQuery) -> str | None:
    """Why ``item`` is outside ``query`` (a counter name: ``"collection"``, ``"bbox"``,
    ``"datetime"``, ``"cloud"``, ``"no_cloud_cover"``), or None when it matches."""
    if query.collections is not None and item.collection_id not in query.collections:
        return "collection"
    if query.bbox is not None and item.bbox is not None:
        box = list(item.bbox)
        box = [box[0], box[1], box[3], box[4]] if len(box) == 6 else box[:4]
        if not _intersects(box, query.bbox):
            return "bbox"
    start, stop = time_range(query.datetime)
    if start is not None or stop is not None:
        first, last = _item_times(item)
        if first is None and last is None:
            return "datetime"
        if (stop is not None and first is not None and first > stop) or (
            start is not None and last is not None and last < start
        ):
            return "datetime"
    if query.max_cloud is not None:
        cover = item.properties.get("eo:cloud_cover")
        if not isinstance(cover, (int, float)):
            return "no_cloud_cover"
        if float(cover) > 100.0 * query.max_cloud:
            return "cloud"
    return None


def _conforms(landing: dict, suffix: str) -> bool:
    return any(str(c).endswith(suffix) for c in landing.get("conformsTo") or [])


def is_api(landing: dict) -> bool:
    """True when a landing page offers item search (conformance class or ``rel=search`` link)."""
    if any(_conforms(landing, s) for s in _ITEM_SEARCH):
        return True
    return any(isinstance(link, dict) and link.get("rel") == "search" for link in landing.get("links") or [])


@dataclass
class StacCounts:
    """What a walk saw: ``yielded`` items, ``pages`` read, skipped items by reason (:func:`refusal`)."""

    yielded: int = 0
    pages: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


class StacScenes:
    """The scenes of a :class:`StacQuery`, streamed (module doc): iterating yields
    :class:`StacEntry` objects (``str()``: the Item's href, which prefixes its tile ids)."""

    def __init__(self, query: StacQuery, roots: Sequence[Path] = (), log=print):
        query.check()
        self.query = query
        self.url = query.url
        self.roots = tuple(Path(r) for r in roots)
        self.counts = StacCounts()
        self.log = log
        self.io = stac_io()
        self.landing = read_json(self._href(query.url), self.io, "STAC catalogue")
        self.kind = self._kind()

    @staticmethod
    def _href(url: str) -> str:
        return url if is_remote_url(url) else str(Path(url).resolve())

    def _kind(self) -> str:
        kind = self.landing.get("type")
        if kind in ("Catalog", "Collection") and is_api(self.landing):
            return "api"
        if kind in ("Catalog", "Collection", "FeatureCollection", "Feature"):
            return str(kind)
        raise DataError(f"{self.url}: not a STAC API, catalogue, collection, ItemCollection or Item (type {kind!r})")

    def __str__(self) -> str:
        return self.url

    def describe(self) -> str:
        """One line: what the URL is and what is asked."""
        what = {"api": "STAC API", "FeatureCollection": "ItemCollection"}.get(self.kind, f"static {self.kind}")
        q = self.query
        parts = [f"collections {','.join(q.collections)}" if q.collections else None]
        parts += [f"bbox {','.join(f'{v:g}' for v in q.bbox)}" if q.bbox else None]
        parts += [f"datetime {q.datetime}" if q.datetime else None]
        parts += [f"eo:cloud_cover <= {100 * q.max_cloud:g}" if q.max_cloud is not None else None]
        asked = ", ".join(p for p in parts if p) or "everything"
        return f"{what} {self.url}: {asked}, at most {q.max_items} items"

    def __iter__(self) -> Iterator[StacEntry]:
        items = self._api_items() if self.kind == "api" else self._static_items()
        for item, where in items:
            reason = refusal(item, self.query)
            if reason:
                self.counts.skip(reason)
                continue
            self.counts.yielded += 1
            yield StacEntry(item, self._policy(item), where)
            if self.counts.yielded >= self.query.max_items:
                return

    def skipped_note(self) -> str | None:
        """``"skipped N items: 3 cloud, 1 bbox"`` or None."""
        if not self.counts.skipped:
            return None
        total = sum(self.counts.skipped.values())
        detail = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in sorted(self.counts.skipped.items()))
        return f"{self.url}: skipped {total} STAC items outside the query ({detail})"

    def _policy(self, item) -> tuple[Path | None, HrefPolicy]:
        """(the folder local hrefs must stay in, the policy): remote hrefs are followed; local ones
        only for an Item read from a local file, inside its folder, the folder of the ``--stac``
        catalogue (its tree) or ``roots`` (``--allow-href-root``)."""
        href = item.get_self_href()
        if href and not is_remote_url(href):
            roots = (*self.roots, Path(self._href(self.url)).parent)
            return Path(href).resolve().parent, HrefPolicy(roots, allow_remote=True)
        return None, HrefPolicy(allow_remote=True)

    # ---------------------------------------------------------------- STAC API search
    def _api_items(self):
        from pystac_client import Client  # noqa: PLC0415 (pystac-client: the stac extra)
        from pystac_client.exceptions import APIError  # noqa: PLC0415 (pystac-client: the stac extra)

        q = self.query
        try:
            client = Client.open(self.url, stac_io=self.io, timeout=self.io.timeout)
            extra = {}
            if q.max_cloud is not None:
                pct = 100.0 * q.max_cloud
                if _conforms(self.landing, _QUERY):
                    extra["query"] = {"eo:cloud_cover": {"lte": pct}}
                elif _conforms(self.landing, _FILTER):
                    extra["filter"] = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, pct]}
                    extra["filter_lang"] = "cql2-json"
            posts = any(
                isinstance(ln, dict) and ln.get("rel") == "search" and str(ln.get("method", "GET")).upper() == "POST"
                for ln in self.landing.get("links") or []
            )
            search = client.search(
                method="POST" if posts else "GET",
                collections=list(q.collections) if q.collections else None,
                bbox=list(q.bbox) if q.bbox else None,
                datetime=q.datetime or None,
                limit=q.page,
                max_items=q.max_items,
                **extra,
            )
            url, method, params = search.url, search.method, search.get_parameters()
        except (APIError, NotImplementedError, ValueError, TypeError, KeyError) as exc:
            raise DataError(f"{self.url}: STAC API search could not be made ({type(exc).__name__}: {exc})") from None
        yield from self._pages(url, method, params)

    def _pages(self, url: str, method: str, params: dict):
        """Items of the search pages from ``url``, following ``next`` links (bounded, module doc)."""
        from pystac import Link  # noqa: PLC0415 (pystac only for STAC)

        max_pages = self.query.max_items // self.query.page + 2
        href: object = url
        where = url
        seen: set[str] = set()
        request = {"method": method, "parameters": params}
        while True:
            page = read_json(href, self.io, "STAC API page", **request)
            self.counts.pages += 1
            features = page.get("features")
            if not isinstance(features, list):
                raise DataError(
                    f"{where}: malformed STAC API page (expected a FeatureCollection with a 'features' list, "
                    f"got {type(features).__name__} under keys {sorted(page)[:8]})"
                )
            for n, feature in enumerate(features):
                ident = feature.get("id") if isinstance(feature, dict) else None
                item = item_from_dict(feature, None, f"{where} (feature {n}{f' {ident!r}' if ident else ''})")
                item.set_self_href(self._item_href(item, feature))
                yield item, where
            nxt = next((ln for ln in page.get("links") or [] if isinstance(ln, dict) and ln.get("rel") == "next"), None)
            if not features or nxt is None or not isinstance(nxt.get("href"), str):
                return
            key = f"{nxt.get('method', 'GET')} {nxt['href']} {nxt.get('body')}"
            if key in seen or self.counts.pages >= max_pages:
                self.log(f"{self.url}: stopped after {self.counts.pages} pages (next link repeated or page bound)")
                return
            seen.add(key)
            link = Link.from_dict(nxt)
            href, where = link, nxt["href"]
            request = {"parameters": params} if str(nxt.get("method", "GET")).upper() == "POST" else {}

    def _item_href(self, item, feature: dict) -> str:
        """The Item's ``self`` link, else ``{API}/collections/{collection}/items/{id}``."""
        for link in feature.get("links") or []:
            if isinstance(link, dict) and link.get("rel") == "self" and isinstance(link.get("href"), str):
                return urljoin(self.url, link["href"])
        base = self.url.rstrip("/") + "/"
        return urljoin(base, f"collections/{item.collection_id}/items/{item.id}")

    # ---------------------------------------------------------------- static catalogues
    def _static_items(self):
        root = self._href(self.url)
        if self.kind == "Feature":
            yield item_from_dict(self.landing, root, root), root
            return
        if self.kind == "FeatureCollection":
            features = self.landing.get("features")
            if not isinstance(features, list):
                raise DataError(f"{root}: malformed ItemCollection (no 'features' list)")
            for n, feature in enumerate(features):
                item = item_from_dict(feature, None, f"{root} (feature {n})")
                item.set_self_href(self._feature_href(item, feature, root))
                yield item, root
            return
        yield from self._walk(root, self.landing, 0, set())

    @staticmethod
    def _feature_href(item, feature: dict, base: str) -> str:
        for link in feature.get("links") or []:
            if isinstance(link, dict) and link.get("rel") == "self" and isinstance(link.get("href"), str):
                return _join(base, link["href"])
        return f"{base}#{item.id}"

    def _walk(self, href: str, node: dict, depth: int, seen: set[str]):
        """Items under the catalogue ``node`` read from ``href``: its ``item`` links, then its children."""
        seen.add(href)
        links = [ln for ln in node.get("links") or [] if isinstance(ln, dict) and isinstance(ln.get("href"), str)]
        for link in links:
            if link.get("rel") == "item":
                target = _join(href, link["href"])
                if target in seen:
                    continue
                seen.add(target)
                yield item_from_dict(read_json(target, self.io, "STAC Item"), target, target), target
        if depth >= MAX_DEPTH:
            return
        for link in links:
            if link.get("rel") == "child":
                target = _join(href, link["href"])
                if target not in seen:
                    yield from self._walk(target, read_json(target, self.io, "STAC catalogue"), depth + 1, seen)


def _join(base: str, href: str) -> str:
    """``href`` resolved against ``base`` (a URL or an absolute local path)."""
    if is_remote_url(href) or href.startswith("/"):
        return href
    if is_remote_url(base):
        return urljoin(base, href)
    return str((Path(base).parent / href).resolve())


@dataclass
class StacEntry:
    """One STAC Item of a walk, opened as a :class:`~mlrsir.geo.scene.Scene` by :meth:`open_scene`."""

    item: object
    policy: tuple[Path | None, HrefPolicy]
    where: str

    @property
    def href(self) -> str:
        return str(self.item.get_self_href())  # type: ignore[attr-defined]

    def __str__(self) -> str:
        return self.href

    def open_scene(self) -> Scene:
        folder, policy = self.policy
        source: Path | str = self.href if is_remote_url(self.href) else Path(self.href)
        return item_scene(self.item, source, folder, policy)
