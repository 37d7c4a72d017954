"""A scene: named bands of one acquisition, from a raster, a band folder or a STAC Item.

:func:`open_scene` accepts

* one GDAL-readable raster (single or multi-band): band names from the band
  descriptions, else ``"1"``, ``"2"``, ...;
* a folder of per-band files whose stems end in a band suffix (case-insensitive):
  Sentinel-2 ``*_B04.tif`` / ``*_B8A.tif``, Landsat ``*_B4.TIF`` / ``l8_B4.tif`` /
  ``*_BQA.TIF``. When the folder itself has none, its direct subfolders are searched
  (e.g. ``<scene>/bands/``). Bands are ordered naturally (B1, B2, ..., B8, B8A, B9,
  B10, ...); two files for one band are an error;
* a remote raster URL (``https://``, ``s3://``; :mod:`mlrsir.geo.remote`), read in place, or
  an ``s3://bucket/folder/`` of per-band files (named as above, direct children only);
* a STAC Item URL (``http(s)://`` without a raster suffix, e.g. a STAC API's
  ``.../collections/C/items/ID``, or ``.../item.json``; :func:`is_stac_item_url`), its remote
  asset hrefs followed;
* a local STAC Item JSON (pystac): every raster asset (not a thumbnail/overview) is a
  band, named by its ``eo:bands`` (or STAC 1.1 ``bands``) entry's ``name``, else by
  the asset key; the asset key and ``common_name`` are accepted as aliases.

``Scene.select(spec)`` returns the chosen :class:`~mlrsir.geo.raster.BandSource` list
(names or 1-based indices, see :mod:`mlrsir.geo.bands`) and checks that all of them
share one CRS. Every band file is opened once at :func:`open_scene` time: a missing,
unreadable or truncated file raises DataError naming it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from mlrsir.errors import DataError
from mlrsir.geo import acquisition
from mlrsir.geo.bands import band_from_filename, band_sort_key, canonical, select_indices
from mlrsir.geo.hrefs import HrefPolicy
from mlrsir.geo.raster import RASTER_SUFFIXES, BandSource, band_sources
from mlrsir.geo.remote import is_remote_url, list_s3_prefix, remote_name
from mlrsir.paths import not_found_message
from mlrsir.text import printable


@dataclass
class Scene:
    """Bands of one scene.

    Attributes:
        scene_id: folder name, file stem or STAC item id.
        source: what was opened (file, folder or STAC JSON; the URL string of a remote raster).
        bands: all bands, in selection-index order.
        datetime: acquisition datetime (ISO string, see :mod:`mlrsir.geo.acquisition`) or None.
        kind: ``"raster"``, ``"folder"`` or ``"stac"``.
        provenance: a STAC Item's id, collection, asset hrefs, datetime and ``eo:cloud_cover``
            (:func:`stac_provenance`; stored in each tile's ``geo["stac"]``), else None.
    """

    scene_id: str
    source: Path | str
    bands: list[BandSource]
    datetime: str | None
    kind: str
    provenance: dict | None = None

    @property
    def band_names(self) -> list[str]:
        return [b.name for b in self.bands]

    def select(self, spec: str | int | Sequence[str | int] | None = None) -> list[BandSource]:
        """Bands chosen by ``spec`` (None: all). DataError for unknown names / mixed CRSs."""
        idx = select_indices(self.band_names, spec, f"{self.source}", [b.aliases for b in self.bands])
        chosen = [self.bands[i] for i in idx]
        check_same_crs(chosen)
        return chosen


def check_same_crs(bands: Sequence[BandSource]) -> None:
    """DataError naming the files when the bands do not share one CRS (or georeference)."""
    first = bands[0]
    for band in bands[1:]:
        if (band.crs is None) != (first.crs is None) or (band.crs is not None and band.crs != first.crs):
            raise DataError(
                f"bands with different CRSs: {first.path} ({first.name}: {crs_label(first.crs)}) vs "
                f"{band.path} ({band.name}: {crs_label(band.crs)}); reproject them to one CRS first"
            )


def crs_label(crs) -> str:
    """``"EPSG:32618"`` when the CRS has an EPSG code, else its PROJ/WKT string; ``"none"``."""
    if crs is None:
        return "none"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def open_scene(path: str | Path) -> Scene:
    """Open a raster file, a band folder, a STAC Item JSON or a remote raster URL
    (``http(s)://``, ``s3://``: :mod:`mlrsir.geo.remote`; its source is the URL) as a :class:`Scene`."""
    if is_remote_url(path):
        if is_stac_item_url(str(path)):
            return _remote_item_scene(str(path))
        return _remote_scene(str(path))
    path = Path(path)
    if path.is_dir():
        return _folder_scene(path)
    if not path.exists():
        raise DataError(
            not_found_message(path, "scene not found (expected a raster, a folder of band files or a STAC Item .json)")
        )
    if path.suffix.lower() == ".json":
        return _stac_scene(path)
    bands = band_sources(path)
    if len(bands) == 1:  # a lone single-band file named like s2_B04.tif keeps its band name
        name = band_from_filename(path)
        if name:
            bands = [replace(bands[0], name=name)]
    mtl = acquisition.find_mtl(path.parent)
    dt = (acquisition.from_landsat_mtl(mtl) if mtl else None) or acquisition.from_name(path.stem, path.parent.name)
    return Scene(path.stem, path, bands, dt, "raster")


def is_stac_item_url(url: str) -> bool:
    """True for an ``http(s)://`` URL that names no raster file or folder: a STAC Item (its JSON)."""
    if not url.lower().startswith(("http://", "https://")):
        return False
    path = urlparse(url).path
    return bool(path) and not path.endswith("/") and PurePosixPath(path).suffix.lower() not in RASTER_SUFFIXES


def _remote_scene(url: str) -> Scene:
    """A remote raster as a scene: bands as for a local raster, datetime from the URL's file name;
    an ``s3://bucket/folder/`` URL is a band folder (:func:`_remote_folder_scene`)."""
    if url.endswith("/"):
        if url.lower().startswith("s3://"):
            return _remote_folder_scene(url)
        raise DataError(f"{url}: an HTTP folder is not a scene (HTTP has no listing); name the raster files")
    bands = band_sources(url)
    stem = remote_name(url)
    if len(bands) == 1:
        name = band_from_filename(Path(stem + ".tif"))
        if name:
            bands = [replace(bands[0], name=name)]
    folder = PurePosixPath(urlparse(url).path).parent.name
    return Scene(stem, url, bands, acquisition.from_name(stem, folder), "raster")


def _remote_folder_scene(url: str) -> Scene:
    """The rasters directly under an ``s3://`` folder whose names end in a band suffix, as one scene."""
    found: dict[str, str] = {}
    for file_url in list_s3_prefix(url, recursive=False):
        name = band_from_filename(remote_name(file_url) + ".tif")
        if name is None:
            continue
        other = next((v for n, v in found.items() if canonical(n) == canonical(name)), None)
        if other is not None:
            raise DataError(f"{url}: two files for band {name}: {other} and {file_url}")
        found[name] = file_url
    if not found:
        raise DataError(f"{url}: no band files (expected files like *_B04.tif, B8A.jp2) directly in this S3 folder")
    folder = PurePosixPath(urlparse(url).path).name or urlparse(url).netloc
    dt = acquisition.from_name(folder, *[remote_name(u) for u in found.values()])
    return Scene(folder, url, _band_list(found), dt, "folder")


def _band_list(found: dict) -> list[BandSource]:
    """One single-band :class:`BandSource` per ``{band name: file}``, in natural band order."""
    bands: list[BandSource] = []
    for name in sorted(found, key=band_sort_key):
        srcs = band_sources(found[name])
        if len(srcs) != 1:
            raise DataError(f"{found[name]}: a per-band file must hold 1 band, it holds {len(srcs)}")
        bands.append(replace(srcs[0], name=name))
    return bands


def band_files(folder: Path) -> dict[str, Path]:
    """Band name -> file for the raster files of ``folder`` with a band suffix."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in RASTER_SUFFIXES or p.name.startswith("."):
            continue
        name = band_from_filename(p)
        if name is None:
            continue
        key = canonical(name)
        if key in {canonical(n) for n in found}:
            other = next(v for n, v in found.items() if canonical(n) == key)
            raise DataError(f"{folder}: two files for band {name}: {other.name} and {p.name}")
        found[name] = p
    return found


def _folder_scene(folder: Path) -> Scene:
    found = band_files(folder)
    where = folder
    if not found:
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            found = band_files(sub)
            if found:
                where = sub
                break
    if not found:
        raise DataError(
            f"{folder}: no band files (expected files like *_B04.tif, *_B8A.tif, l8_B4.tif, *_B4.TIF "
            "in the folder or one subfolder)"
        )
    bands = _band_list(found)
    mtl = acquisition.find_mtl(where, folder, folder.parent)
    dt = (acquisition.from_landsat_mtl(mtl) if mtl else None) or acquisition.from_name(
        folder.name, *[p.stem for p in found.values()]
    )
    return Scene(folder.name, folder, bands, dt, "folder")


_SKIP_ROLES = {"thumbnail", "overview", "visual", "metadata"}

COMMON_NAMES = {
    "coastal", "blue", "green", "red", "yellow", "pan", "rededge", "nir", "nir08", "nir09",
    "cirrus", "swir16", "swir22", "lwir", "lwir11", "lwir12",
}  # fmt: skip
"""STAC ``eo`` common band names: an asset keyed by one (without ``eo:bands``) gets it as alias."""

_HREF_POLICY = HrefPolicy()


def set_href_policy(policy: HrefPolicy) -> None:
    """Which STAC asset hrefs :func:`open_scene` follows from now on in this process
    (default: files inside the Item's folder tree only; see :mod:`mlrsir.geo.hrefs`)."""
    global _HREF_POLICY
    _HREF_POLICY = policy


def _stac_scene(path: Path) -> Scene:
    import pystac  # noqa: PLC0415 (pystac only for STAC Items)

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable STAC Item ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("type") != "Feature":
        got = f"type {data.get('type')!r}" if isinstance(data, dict) else f"a JSON {type(data).__name__}"
        raise DataError(f"{path}: not a STAC Item (expected an object with type 'Feature', got {got})")
    try:
        item = pystac.Item.from_file(str(path))
    except (KeyError, ValueError, TypeError, AttributeError, pystac.STACError, pystac.STACTypeError) as exc:
        raise DataError(f"{path}: not a readable STAC Item ({type(exc).__name__}: {exc})") from exc
    return item_scene(item, path, path.resolve().parent, _HREF_POLICY)


def _remote_item_scene(url: str) -> Scene:
    """A STAC Item at an ``http(s)://`` URL (e.g. ``.../collections/C/items/ID`` of a STAC API):
    read with a timeout, its remote asset hrefs followed, local ones refused."""
    from mlrsir.geo.stac_io import read_item  # noqa: PLC0415 (pystac only for STAC Items)

    return item_scene(read_item(url), url, None, HrefPolicy(allow_remote=True))


def item_scene(item, source: Path | str, item_folder: Path | None, policy: HrefPolicy) -> Scene:
    """The :class:`Scene` of a pystac Item (module doc): its raster data assets as bands.

    Args:
        item: a ``pystac.Item`` (asset hrefs made absolute through its self href).
        source: the scene's source: the Item's JSON file or URL (the prefix of its tile ids).
        item_folder: the local folder of the Item's JSON (the root its local hrefs must stay
            in), or None for an Item read over the network (local hrefs refused).
        policy: which hrefs are followed (:class:`~mlrsir.geo.hrefs.HrefPolicy`).

    The scene's ``provenance`` (:func:`stac_provenance`) names the Item and its band assets.
    """
    refused: list[str] = []
    bands: list[BandSource] = []
    used: dict[str, str] = {}
    for key, asset in item.assets.items():
        roles = set(asset.roles or [])
        href = asset.get_absolute_href() or asset.href
        why = policy.refusal(href, item_folder)
        if why:
            refused.append(f"asset {key!r} ({asset.href}): {why}")
            print(printable(f"mlrsir: {source}: skipped asset {key!r} ({asset.href}): {why}"), file=sys.stderr)
            continue
        href = policy.local_path(href)
        media = (asset.media_type or "").lower()
        is_raster = "tiff" in media or "jp2" in media or Path(href.split("?")[0]).suffix.lower() in RASTER_SUFFIXES
        if not is_raster or (roles & _SKIP_ROLES and "data" not in roles):
            continue
        if "://" not in href and not Path(href).is_file():
            raise DataError(f"{source}: band file of asset {key!r} not found: {href}")
        bands.extend(_asset_bands(key, asset, href))
        used[key] = href
    if not bands:
        detail = f" (refused: {'; '.join(refused)})" if refused else ""
        raise DataError(f"{source}: STAC Item {item.id!r} has no raster (GeoTIFF / JP2) data assets{detail}")
    dt = acquisition.from_stac_item(item)
    return Scene(item.id, source, bands, dt, "stac", stac_provenance(item, used, dt))


def _asset_bands(key: str, asset, href: str) -> list[BandSource]:
    """The bands of one asset: named by its ``eo:bands`` (or STAC 1.1 ``bands``) entries, else (one
    band) by the asset key, else (several bands) by the raster's band descriptions or ``KEY_i``."""
    entries = asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []
    with_names = [e for e in entries if isinstance(e, dict)]
    if len(with_names) > 1:
        names = [str(e.get("name") or f"{key}_{i}") for i, e in enumerate(with_names, 1)]
        aliases = [tuple(a for a in (e.get("common_name"),) if a) for e in with_names]
        return band_sources(href, names, aliases)
    e = with_names[0] if with_names else {}
    name = str(e.get("name") or key)
    common = e.get("common_name") or (key if canonical(key).lower() in COMMON_NAMES else None)
    srcs = band_sources(href)
    if len(srcs) == 1:
        return [replace(srcs[0], name=name, aliases=tuple(dict.fromkeys(a for a in (key, common) if a and a != name)))]
    out = []
    for s in srcs:  # a multi-band COG without eo:bands: the raster's band descriptions, else KEY_i
        numbered = f"{name}_{s.index}"
        described = not s.name.isdigit()
        out.append(replace(s, name=s.name if described else numbered, aliases=(numbered,) if described else ()))
    return out


def stac_provenance(item, assets: dict[str, str], dt: str | None) -> dict:
    """What a tile keeps of its STAC Item: ``{"item": id, "collection": id or None, "href": the
    Item's self href or None, "assets": {asset key: href read}, "datetime": ISO or None,
    "cloud_cover": eo:cloud_cover (percent 0..100) or None}``."""
    cover = item.properties.get("eo:cloud_cover")
    try:
        cloud = None if cover is None else float(cover)
    except (TypeError, ValueError):
        cloud = None
    return {
        "item": item.id,
        "collection": item.collection_id,
        "href": item.get_self_href(),
        "assets": dict(assets),
        "datetime": dt,
        "cloud_cover": cloud,
    }
