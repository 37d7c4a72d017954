"""``mlrsir serve``: the retrieval web page and JSON API over a code index.

Binds 127.0.0.1 by default. Any other address exposes the archive images and the model
to the network, so it needs ``--allow-remote``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlrsir.cli.runtime_options import add_runtime_arguments
from mlrsir.errors import ConfigError
from mlrsir.web.server import HEADER_TIMEOUT_S

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_MAX_UPLOAD_MB = 10.0
DEFAULT_MAX_UPLOAD_MEGAPIXELS = 40.0
DEFAULT_MAX_CONCURRENT_DECODES = 2


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the retrieval web page and API over an index",
        description="Serve a web page and a JSON API (OpenAPI schema at /openapi.json) to query an index "
        "built by `mlrsir index build`: upload an image or pick an indexed one, get the nearest "
        "images by Hamming distance with their labels and the CBAM attention map of the query. "
        "The index is opened read-only and the encoder is loaded from the run directory recorded "
        "in it (its model fingerprint must match the index).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--index", required=True, type=Path, help="index directory (from `mlrsir index build`)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind; anything other than 127.0.0.1/localhost/::1 requires --allow-remote",
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding a non-loopback address, i.e. let other machines reach the server "
        "(there is no authentication)",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="run directory of the encoder (default: the one recorded in the index)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        help="largest accepted query upload in MiB (larger ones get HTTP 413)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests whose Host header is NAME (repeatable); by default only localhost, "
        "127.0.0.1, [::1] and the bound address are accepted, others get HTTP 400 (DNS rebinding)",
    )
    parser.add_argument(
        "--max-upload-megapixels",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MEGAPIXELS,
        help="largest decoded query upload in megapixels (larger ones get HTTP 413; JPEGs are decoded "
        "at up to 1/8 scale first, so this bites on PNG/TIFF)",
    )
    parser.add_argument(
        "--max-concurrent-decodes",
        type=int,
        default=DEFAULT_MAX_CONCURRENT_DECODES,
        help="uploads decoded at the same time; others wait for a slot (HTTP 503 after 60 s)",
    )
    add_runtime_arguments(parser)
    parser.add_argument(
        "--basemap",
        default=None,
        metavar="URL",
        help="XYZ tile template (https://host/{z}/{x}/{y}.png) the map view draws under the scenes; "
        "fetched by the browser, never by the server (default: none)",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help="connections served at once (default: below the file descriptor limit, at most 1000); when full, "
        "the connection waiting longest for its request head is closed to make room",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT_S,
        help="seconds a client has to send a complete request head before its connection is closed",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn log level",
    )
    parser.set_defaults(func=run)


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless ``--allow-remote`` was given."""
    if host not in LOOPBACK_HOSTS and not allow_remote:
        raise ConfigError(
            f"--host {host}: binding a non-loopback address exposes the archive and the model to "
            f"the network without authentication; add --allow-remote to do it anyway"
        )


def run(args) -> int:
    check_host(args.host, args.allow_remote)
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: must be between 1 and 65535")
    if not args.max_upload_mb > 0:
        raise ConfigError(f"--max-upload-mb {args.max_upload_mb}: must be positive")
    if not args.max_upload_megapixels > 0:
        raise ConfigError(f"--max-upload-megapixels {args.max_upload_megapixels}: must be positive")
    if args.max_concurrent_decodes < 1:
        raise ConfigError(f"--max-concurrent-decodes {args.max_concurrent_decodes}: must be >= 1")
    if args.max_connections is not None and args.max_connections < 1:
        raise ConfigError(f"--max-connections {args.max_connections}: must be >= 1")
    if not args.header_timeout > 0:
        raise ConfigError(f"--header-timeout {args.header_timeout}: must be positive")
    from mlrsir.web.app import create_app
    from mlrsir.web.server import serve

    allowed_hosts = [*args.allow_host]
    if args.host not in LOOPBACK_HOSTS and args.host not in ("0.0.0.0", "::"):
        allowed_hosts.append(args.host)  # the bound address itself
    app = create_app(
        args.index,
        run_dir=args.run_dir,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        allowed_hosts=allowed_hosts,
        max_image_pixels=max(1, int(args.max_upload_megapixels * 1_000_000)),
        max_concurrent_decodes=args.max_concurrent_decodes,
        runtime=args.runtime,
        precision=args.precision,
        basemap=args.basemap,
    )
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"mlrsir: serving {args.index} at http://{shown}:{args.port}/ (Ctrl+C to stop)", flush=True)
    serve(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        max_connections=args.max_connections,
        header_timeout_s=args.header_timeout,
    )
    return 0
