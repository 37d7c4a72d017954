"""``index build|add --stac URL``: the options of a STAC API search or static catalogue walk.

``--stac URL`` (a STAC API landing page, ``catalog.json``, ``collection.json``, an ItemCollection
or an Item; local path or URL) with ``--collections a,b``, ``--bbox W,S,E,N`` (lon/lat),
``--datetime START/END`` (ISO, ``..`` open) and ``--max-items N`` (default
:data:`mlrsir.geo.stac_search.DEFAULT_MAX_ITEMS`); ``--max-cloud F`` (0..1, the scene-tile
option of ``index build|add``) also keeps only Items with ``eo:cloud_cover <= 100 F``. Each
Item is a scene (:mod:`mlrsir.geo.stac_search`); ``--images`` may be given beside it.
"""

from __future__ import annotations


def add_stac_arguments(parser) -> None:
    group = parser.add_argument_group("STAC archives (pip install 'mlrsir[stac]')")
    group.add_argument(
        "--stac",
        metavar="URL",
        help="a STAC API to search, or a static catalog.json / collection.json to walk (URL or path): "
        "each Item is a scene",
    )
    group.add_argument("--collections", help="--stac: collection ids, comma-separated")
    group.add_argument("--bbox", help="--stac: WEST,SOUTH,EAST,NORTH in lon/lat degrees")
    group.add_argument("--datetime", help="--stac: ISO date/datetime or START/END ('..' open), e.g. 2020-01/2020-06")
    group.add_argument(
        "--max-items", type=int, help="--stac: most Items taken (default 1000; the walk is always bounded)"
    )


def open_stac_scenes(args):
    """The :class:`~mlrsir.geo.stac_search.StacScenes` of ``--stac`` (its landing page read and
    checked now; also set as ``args.stac_scenes``), or None without ``--stac``. ConfigError when
    neither ``--images`` nor ``--stac`` is given, or a STAC option comes without ``--stac``."""
    from mlrsir.errors import ConfigError

    url = getattr(args, "stac", None)
    args.stac_scenes = None
    if not url:
        given = [
            f"--{k.replace('_', '-')}"
            for k in ("collections", "bbox", "datetime", "max_items")
            if getattr(args, k, None)
        ]
        if given:
            raise ConfigError(f"{', '.join(given)}: only with --stac URL")
        if not getattr(args, "images", None):
            raise ConfigError("name what to index: --images FILES/FOLDERS/URLS and/or --stac URL")
        return None
    from mlrsir.geo.stac_search import DEFAULT_MAX_ITEMS, StacQuery, StacScenes
    from mlrsir.inference.search import check_bbox

    bbox = None
    if args.bbox:
        try:
            values = [float(v) for v in str(args.bbox).split(",")]
        except ValueError:
            raise ConfigError(f"--bbox {args.bbox!r}: expected 4 numbers WEST,SOUTH,EAST,NORTH") from None
        bbox = tuple(check_bbox(values))
    collections = tuple(c.strip() for c in args.collections.split(",") if c.strip()) if args.collections else None
    query = StacQuery(
        url=url,
        collections=collections or None,
        bbox=bbox,
        datetime=args.datetime,
        max_cloud=getattr(args, "max_cloud", None),
        max_items=args.max_items if args.max_items is not None else DEFAULT_MAX_ITEMS,
    )
    args.stac_scenes = StacScenes(query, roots=tuple(getattr(args, "allow_href_root", ()) or ()))
    return args.stac_scenes
