"""Remote rasters read in place: ``http(s)://`` and ``s3://`` URLs through GDAL's virtual file systems.

``index build|add --images`` takes ``https://host/path.tif``, ``s3://bucket/key.tif`` and
``s3://bucket/prefix/`` (every raster under the prefix, listed with boto3; a folder of per-band
files is one scene, as locally). A remote raster is a scene (tiled, never treated as a plain
image chip); its scene path, and so the prefix of its tile ids, is the URL as given (a band
folder's ends in ``/``), so a re-run skips the tiles already indexed.

GDAL reads only the byte ranges a tile needs: ``https://`` -> ``/vsicurl/https://...``,
``s3://bucket/key`` -> ``/vsis3/bucket/key`` (:func:`gdal_path`). Every open and read runs with
:func:`remote_options` (request timeouts and retries of :data:`mlrsir.geo.hrefs.HTTP_OPTIONS`,
plus :data:`COG_OPTIONS`); an environment variable of the same name set by the user wins.

S3 settings come from the standard AWS environment and files (credentials, ``AWS_REGION``,
``AWS_PROFILE``). One endpoint setting serves both readers: ``AWS_S3_ENDPOINT`` (+ ``AWS_HTTPS``,
``AWS_VIRTUAL_HOSTING``, GDAL's names) is given to boto3 as ``endpoint_url`` when
``AWS_ENDPOINT_URL`` is unset, and ``AWS_ENDPOINT_URL`` is given to GDAL as ``AWS_S3_ENDPOINT`` /
``AWS_HTTPS`` when ``AWS_S3_ENDPOINT`` is unset. ``AWS_NO_SIGN_REQUEST=YES`` reads public buckets
unsigned with both.
"""

from __future__ import annotations

import os
import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlparse

from mlrsir.errors import DataError
from mlrsir.geo.bands import band_from_filename
from mlrsir.geo.hrefs import http_options

REMOTE_PREFIXES = ("http://", "https://", "s3://")

REMOTE_RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt")
"""Suffixes of the rasters an ``s3://`` prefix listing keeps (any case)."""

COG_OPTIONS = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.jp2,.vrt,.ovr,.msk",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
    "VSI_CACHE": "TRUE",
}
"""GDAL settings for Cloud-Optimized GeoTIFFs: no directory listing when a file is opened (no
sidecar probes), only raster suffixes tried over HTTP, HTTP/2 multiplexing where the server
offers it (HTTPS; else HTTP/1.1), adjacent ranges merged into one request, a per-file read cache."""

LIST_TIMEOUTS = {"connect_timeout": 10, "read_timeout": 30, "max_attempts": 3}
"""Timeouts (s) and attempts of the boto3 prefix listing."""

_FALSE = {"no", "false", "off", "0"}


def is_remote_url(text: object) -> bool:
    """True for ``http://``, ``https://`` and ``s3://`` strings (scheme in any case)."""
    return isinstance(text, str) and text.lower().startswith(REMOTE_PREFIXES)


def remote_inputs(url: str) -> list[str]:
    """The remote scenes an ``--images`` URL names: an ``s3://`` prefix ending in ``/`` (or a bare
    bucket) -> its rasters (:func:`list_s3_prefix`), where a folder whose 2 or more rasters all
    have band suffixes (``*_B04.tif``, ``B8A.jp2``) is one band-folder scene ``s3://bucket/folder/``
    (:func:`band_folders`); any other URL -> itself. A http(s) URL ending in ``/`` is refused
    (HTTP has no listing: name the files)."""
    if url.lower().startswith("s3://"):
        _bucket, key = s3_parts(url)
        return band_folders(list_s3_prefix(url)) if key == "" or key.endswith("/") else [url]
    if urlparse(url).path.endswith("/") or not urlparse(url).path:
        raise DataError(f"{url}: an HTTP folder cannot be listed; name the raster files (or list an s3:// prefix)")
    return [url]


def band_folders(urls: list[str]) -> list[str]:
    """``urls`` (sorted) with the files of each band folder replaced by the folder's URL (ending in
    ``/``, at the place of its first file): a folder is one when it holds 2 or more of the rasters
    and every one of them has a band suffix (:func:`mlrsir.geo.bands.band_from_filename`)."""
    by_folder: dict[str, list[str]] = {}
    for url in urls:
        by_folder.setdefault(url.rsplit("/", 1)[0] + "/", []).append(url)
    out: list[str] = []
    for url in urls:
        folder = url.rsplit("/", 1)[0] + "/"
        files = by_folder[folder]
        if len(files) >= 2 and all(band_from_filename(remote_name(f) + ".tif") for f in files):
            if files[0] == url:
                out.append(folder)
        else:
            out.append(url)
    return out


def s3_parts(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key`` (key may be empty or end in ``/``)."""
    parsed = urlparse(url)
    if parsed.scheme.lower() != "s3" or not parsed.netloc:
        raise DataError(f"{url}: not an s3://bucket/key URL")
    return parsed.netloc, parsed.path.lstrip("/")


def gdal_path(url: str) -> str:
    """The GDAL path of a remote URL: ``/vsicurl/URL`` for http(s), ``/vsis3/BUCKET/KEY`` for s3;
    other text unchanged."""
    if not is_remote_url(url):
        return url
    if url.lower().startswith("s3://"):
        bucket, key = s3_parts(url)
        return f"/vsis3/{bucket}/{key}"
    return f"/vsicurl/{url}"


def remote_name(url: str) -> str:
    """The file stem of a URL's path (``https://h/a/T18_B04.tif?sig=1`` -> ``T18_B04``)."""
    stem = PurePosixPath(unquote(urlparse(url).path)).stem
    return stem or urlparse(url).netloc or "remote"


def endpoint_from_url(url: str) -> dict[str, str]:
    """GDAL's ``AWS_S3_ENDPOINT`` and ``AWS_HTTPS`` for a boto-style endpoint URL."""
    parsed = urlparse(url)
    endpoint = parsed.netloc + parsed.path.rstrip("/")
    return {"AWS_S3_ENDPOINT": endpoint, "AWS_HTTPS": "NO" if parsed.scheme.lower() == "http" else "YES"}


def remote_options() -> dict[str, str]:
    """GDAL settings of remote reads: :func:`mlrsir.geo.hrefs.http_options` and :data:`COG_OPTIONS`
    (environment variables of the same names win), plus ``AWS_S3_ENDPOINT`` / ``AWS_HTTPS`` from
    ``AWS_ENDPOINT_URL`` when only the latter is set (module doc)."""
    options = http_options()
    options.update({k: os.environ.get(k, v) for k, v in COG_OPTIONS.items()})
    boto_endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if boto_endpoint and "AWS_S3_ENDPOINT" not in os.environ:
        found = endpoint_from_url(boto_endpoint)
        options["AWS_S3_ENDPOINT"] = found["AWS_S3_ENDPOINT"]
        options["AWS_HTTPS"] = os.environ.get("AWS_HTTPS", found["AWS_HTTPS"])
    return options


OPEN_ONLY = ("GDAL_DISABLE_READDIR_ON_OPEN",)
"""Settings that act when a file is opened only: given in the open's ``rasterio.Env``, never put
into the process environment (local opens elsewhere keep their sidecar files)."""


def apply_remote_defaults() -> dict[str, str]:
    """Put the request settings of :func:`remote_options` (all but :data:`OPEN_ONLY`) into the
    process environment where unset (GDAL reads them at every request, also outside a
    ``rasterio.Env``: the windowed reads after an open); returns all the options."""
    options = remote_options()
    for key, value in options.items():
        if key not in OPEN_ONLY:
            os.environ.setdefault(key, value)
    return options


def boto_endpoint() -> str | None:
    """boto3's ``endpoint_url``: ``AWS_ENDPOINT_URL(_S3)``, else one built from GDAL's
    ``AWS_S3_ENDPOINT`` and ``AWS_HTTPS``; None for AWS itself."""
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if url:
        return url
    endpoint = os.environ.get("AWS_S3_ENDPOINT")
    if not endpoint:
        return None
    if "://" in endpoint:
        return endpoint
    scheme = "http" if os.environ.get("AWS_HTTPS", "YES").lower() in _FALSE else "https"
    return f"{scheme}://{endpoint}"


def _s3_client():
    """A boto3 S3 client for the environment's settings (module doc); DataError without boto3."""
    try:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config
    except ImportError:
        raise DataError(
            "listing an s3:// prefix needs boto3 (pip install 'mlrsir[remote]'); or name the objects one by one"
        ) from None
    path_style = os.environ.get("AWS_VIRTUAL_HOSTING", "TRUE").lower() in _FALSE
    unsigned = os.environ.get("AWS_NO_SIGN_REQUEST", "NO").lower() in {"yes", "true", "on", "1"}
    config = Config(
        connect_timeout=LIST_TIMEOUTS["connect_timeout"],
        read_timeout=LIST_TIMEOUTS["read_timeout"],
        retries={"max_attempts": LIST_TIMEOUTS["max_attempts"], "mode": "standard"},
        s3={"addressing_style": "path" if path_style else "auto"},
        signature_version=UNSIGNED if unsigned else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=boto_endpoint(), config=config)


def list_s3_prefix(url: str, recursive: bool = True) -> list[str]:
    """``s3://bucket/key`` URLs of the rasters (:data:`REMOTE_RASTER_SUFFIXES`) under the prefix
    ``url`` (``recursive`` False: its direct children only), sorted by key. DataError naming the
    URL when the listing is refused (credentials, missing bucket), times out, or finds no raster."""
    bucket, prefix = s3_parts(url)
    client = _s3_client()
    from botocore.exceptions import BotoCoreError, ClientError

    keys: list[str] = []
    extra = {} if recursive else {"Delimiter": "/"}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, **extra):
            keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].lower().endswith(REMOTE_RASTER_SUFFIXES)]
    except ClientError as exc:
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise DataError(
            f"{url}: S3 listing refused (HTTP {status}, {error.get('Code')}: {error.get('Message')})"
            f"{credentials_hint(status, str(error.get('Code')))}"
        ) from None
    except BotoCoreError as exc:  # no credentials, endpoint unreachable, timeouts
        raise DataError(f"{url}: S3 listing failed ({type(exc).__name__}: {exc})") from None
    if not keys:
        raise DataError(f"{url}: no raster files ({', '.join(REMOTE_RASTER_SUFFIXES)}) under this S3 prefix")
    return [f"s3://{bucket}/{key}" for key in sorted(keys)]


_CREDENTIAL_WORDS = re.compile(r"access key|signature|credential|InvalidAccessKeyId|SignatureDoesNotMatch", re.I)


def credentials_hint(status: int | None, message: str) -> str:
    """``"; check the AWS credentials ..."`` for a 403 or a message about keys/signatures, else ``""``."""
    if status == 403 or _CREDENTIAL_WORDS.search(message or ""):
        return (
            "; check the AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE) "
            "and the endpoint (AWS_S3_ENDPOINT or AWS_ENDPOINT_URL)"
        )
    return ""


_HTTP_STATUS = re.compile(r"HTTP response code: (\d{3})")


def read_error_message(url: str, message: str, options: dict[str, str]) -> str:
    """The DataError text of a remote raster GDAL could not open or read (URL, HTTP status or S3
    error, a credentials hint, the timeouts in force)."""
    found = _HTTP_STATUS.search(message)
    status = int(found.group(1)) if found else None
    s3 = url.lower().startswith("s3://")
    if status == 404 or (s3 and "key does not exist" in message.lower()):
        what = "not found (HTTP 404)"
    elif s3 and "bucket does not exist" in message.lower():
        what = "bucket not found (HTTP 404)"
    elif status == 403 or (s3 and _CREDENTIAL_WORDS.search(message)):
        what = "access denied (HTTP 403)"
        status = 403
    elif status is not None:
        what = f"HTTP {status}"
    elif "timed out" in message.lower():
        what = "request timed out"
    else:
        what = "cannot be read"
    hint = credentials_hint(status, message) if s3 else ""
    return (
        f"{url}: remote raster {what}: {message}{hint} (timeouts: connect {options['GDAL_HTTP_CONNECTTIMEOUT']} s, "
        f"request {options['GDAL_HTTP_TIMEOUT']} s, {options['GDAL_HTTP_MAX_RETRY']} retries)"
    )
