"""Former home of the Ray engine, now :mod:`mlrsir.ingest.ray_engine` (names kept for
callers not yet moved: ``RayOptions``, ``require_ray``, ``ray_session``,
``encode_paths_ray``, ``encode_into_index_ray``, ``quiet_token_auth_notice``)."""

from mlrsir.ingest.ray_engine import (
    RayOptions,
    encode_into_index_ray,
    encode_paths_ray,
    quiet_token_auth_notice,
    ray_session,
    require_ray,
)

__all__ = [
    "RayOptions",
    "encode_into_index_ray",
    "encode_paths_ray",
    "quiet_token_auth_notice",
    "ray_session",
    "require_ray",
]
