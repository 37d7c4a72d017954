"""Whether the optional ``geo`` extra (rasterio, pyproj, pystac, pyarrow) is installed."""

from __future__ import annotations

from functools import lru_cache

from mlrsir.errors import ConfigError


@lru_cache(maxsize=1)
def geo_available() -> bool:
    """True when rasterio and pyproj import."""
    try:
        import pyproj  # noqa: F401
        import rasterio  # noqa: F401
    except ImportError:
        return False
    return True


def require_geo(what: str) -> None:
    """ConfigError naming ``what`` when the geo extra is missing."""
    if not geo_available():
        raise ConfigError(f"{what} needs the geo extra: pip install 'mlrsir[geo]' (rasterio, pyproj, pystac, pyarrow)")
