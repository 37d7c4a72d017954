"""Request and response models of the web API (they document the OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

MAX_K = 500
DEFAULT_K = 24
MAX_ITEM_ID = 2**63 - 1
"""Largest item id (SQLite's INTEGER range); larger ids are refused with 422, not looked up."""


class SceneFilters(BaseModel):
    """Place, time and cloud filters of scene tiles (search and find all like these)."""

    bbox: list[float] | None = Field(
        None,
        min_length=4,
        max_length=4,
        description="[lon_min, lat_min, lon_max, lat_max]: keep only results whose footprint intersects it.",
    )
    after: str | None = Field(
        None, description="ISO date or datetime: keep only tiles acquired on/after it (tiles without a time fail)."
    )
    before: str | None = Field(
        None, description="ISO date or datetime: keep only tiles acquired on/before it (tiles without a time fail)."
    )
    max_cloud: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Keep only tiles whose stored cloud fraction is <= this (0..1; unknown fails).",
    )

    @field_validator("bbox", mode="before")
    @classmethod
    def _comma_bbox(cls, value):
        """Form fields and query parameters send ``"w,s,e,n"`` as one string."""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",")]
        return value

    @field_validator("after", "before")
    @classmethod
    def _iso_time(cls, value):
        """An ISO 8601 date (``2016-01-12``) or datetime; compared on its text (``index.tile_quality``)."""
        if value is None:
            return None
        text = str(value).strip()
        try:
            (date.fromisoformat if len(text) == 10 else datetime.fromisoformat)(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD) or datetime") from None
        return text

    def has_time_or_cloud(self) -> bool:
        return self.after is not None or self.before is not None or self.max_cloud is not None


class LikeTheseParams(SceneFilters):
    """Find all like these: the items marked ✓ (positives) and ✗ (negatives)."""

    positives: list[int] = Field(..., min_length=1, max_length=1000, description="Ids of items like the wanted ones.")
    negatives: list[int] = Field(
        default_factory=list, max_length=1000, description="Ids of items unlike them (none: a random sample)."
    )
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K, description="Number of results to return (1-500).")
    labels: list[str] = Field(default_factory=list, description="Label filter: results carry ALL these labels.")


class SearchParams(SceneFilters):
    """Search options; sent as query parameters, form fields or a JSON body."""

    item_id: int | None = Field(
        None,
        ge=0,
        le=MAX_ITEM_ID,
        description="Id of an indexed image to use as the query (instead of uploading an image).",
    )
    k: int = Field(DEFAULT_K, ge=1, le=MAX_K, description="Number of results to return (1-500).")
    radius: int | None = Field(
        None,
        ge=0,
        le=MAX_ITEM_ID,
        description="Hamming radius: only results at distance <= radius are returned (still at most k).",
    )
    labels: list[str] = Field(
        default_factory=list,
        description="Label filter: results must carry ALL these labels. Repeat the parameter for several labels.",
    )
    include_self: bool = Field(
        False,
        description="When querying by item_id, keep the query item itself in the results (it is left out by default).",
    )
    attention: bool = Field(
        False,
        description="Also compute the CBAM attention heat map inline (slow; the page fetches it separately from "
        "GET /api/items/{id}/attention or POST /api/attention).",
    )
    at: list[float] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="[lon, lat] (degrees, WGS 84): query with the indexed scene tile containing this point "
        "(instead of item_id or an upload); the tile itself is included.",
    )

    @field_validator("at", mode="before")
    @classmethod
    def _comma_list(cls, value):
        """Form fields and query parameters send ``"lon,lat"`` as one string."""
        if isinstance(value, str):
            return [v.strip() for v in value.split(",")]
        return value

    @field_validator("item_id", "k", "radius", mode="before")
    @classmethod
    def _no_booleans(cls, value):
        """JSON ``true``/``false`` is not a number (pydantic would read it as 1/0)."""
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        return value


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="Always 'ok' when the server answers.")
    size: int = Field(description="Number of indexed images.")
    bits: int = Field(description="Code length k in bits.")
    fingerprint: dict = Field(description="Model fingerprint of the index and the loaded encoder.")
    num_labels: int = Field(
        description="Number of labels a filter or label search can use (0 when no item has labels and the index "
        "stores no predicted labels)."
    )
    georeferenced: bool = Field(
        False, description="Whether some indexed item has a lon/lat footprint (a place search can find something)."
    )
    version: str = Field(description="mlrsir version.")
    max_upload_bytes: int = Field(description="Largest accepted upload in bytes (larger ones get 413).")
    basemap: str | None = Field(
        None, description="XYZ tile template the map view draws under the scenes (`mlrsir serve --basemap`)."
    )


class LabelsResponse(BaseModel):
    labels: list[str] = Field(description="Label vocabulary, in index order.")
    counts: dict[str, int] = Field(description="Number of indexed images carrying each label.")


class ItemResponse(BaseModel):
    id: int = Field(description="Stable integer id of the image in the index.")
    path: str = Field(description="Display name (parent folder / file name), never a server path.")
    width: int | None = None
    height: int | None = None
    labels: list[str] | None = Field(None, description="Labels of the image; null when unknown.")
    thumbnail_url: str
    image_url: str


class RandomResponse(BaseModel):
    id: int = Field(description="A random indexed image id.")


class StacInfo(BaseModel):
    item: str = Field(description="STAC Item id.")
    collection: str | None = Field(None, description="Collection id of the Item.")
    href: str | None = Field(None, description="The Item's own href (STAC API item URL or catalogue JSON).")
    assets: dict[str, str] = Field(default_factory=dict, description="Asset key -> href of the assets read.")
    datetime: str | None = Field(None, description="The Item's datetime (ISO 8601).")
    cloud_cover: float | None = Field(None, description="The Item's eo:cloud_cover, percent 0..100.")


class GeoInfo(BaseModel):
    scene: str = Field(description="Scene id.")
    window: list[int] = Field(description="[col, row, width, height] in pixels of the scene's finest band.")
    crs: str = Field(description="Native CRS, e.g. EPSG:32618.")
    bounds: list[float] = Field(description="[xmin, ymin, xmax, ymax] in the native CRS.")
    lonlat_bounds: list[float] = Field(description="[lon_min, lat_min, lon_max, lat_max], WGS 84 degrees.")
    datetime: str | None = Field(None, description="Acquisition date/time (ISO 8601) when known.")
    stac: StacInfo | None = Field(None, description="STAC provenance of a tile of a STAC Item; else null.")


class SceneRef(BaseModel):
    id: str = Field(description="URL-safe scene id, unique per source (NAME-HASH8), as used by the quick-look URL.")
    name: str | None = Field(None, description="Scene name: file stem, folder name or STAC item id.")
    width: int = Field(description="Scene width in pixels of its finest band.")
    height: int
    quicklook_url: str = Field(description="PNG quick-look of the whole scene (footprints are drawn over it).")


class QueryInfo(BaseModel):
    source: Literal["upload", "item"] = Field(description="Uploaded image or indexed item.")
    item_id: int | None = None
    name: str = Field(description="Upload file name or display name of the indexed item.")
    width: int
    height: int
    labels: list[str] | None = Field(None, description="Labels of the query (indexed items only).")
    code: str = Field(description="The query's binary code as a string of 0/1 characters.")
    image_url: str | None = Field(None, description="URL of the query image (indexed items only).")
    geo: GeoInfo | None = Field(None, description="Footprint of the query tile (indexed scene tiles only).")


class ResultItem(BaseModel):
    rank: int = Field(description="1-based rank, ordered by (Hamming distance, id).")
    id: int
    distance: int = Field(description="Hamming distance to the query code.")
    path: str = Field(description="Display name (parent folder / file name).")
    labels: list[str] | None = None
    shared_labels: list[str] = Field(default_factory=list, description="Labels shared with the query.")
    relevant: bool | None = Field(None, description="Shares >= 1 label with the query; null when unknown.")
    thumbnail_url: str
    image_url: str
    geo: GeoInfo | None = Field(None, description="Footprint of a scene tile; null for other images.")
    cloud: float | None = Field(None, description="Stored cloud fraction of a scene tile (0..1); null when unknown.")
    scene: SceneRef | None = Field(None, description="The tile's scene and its quick-look; null for other images.")


class Timing(BaseModel):
    decode_ms: float = 0.0
    encode_ms: float = 0.0
    search_ms: float = 0.0
    attention_ms: float = 0.0
    total_ms: float = 0.0


class SearchResponse(BaseModel):
    query: QueryInfo
    params: SearchParams
    results: list[ResultItem]
    precision: float | None = Field(
        None,
        description="Fraction of shown results sharing >= 1 label with "
        "the query; null when query or archive labels are unknown or no results.",
    )
    num_relevant: int | None = None
    timing_ms: Timing
    attention_url: str | None = Field(
        None, description="data: URL of a PNG: the CBAM spatial attention map (jet colour map) blended over the query."
    )
    attention_error: str | None = Field(None, description="Why no attention map could be computed.")


class ErrorResponse(BaseModel):
    detail: str


ERROR_RESPONSES = {
    400: {"model": ErrorResponse, "description": "Invalid request or upload (the message says why)."},
    404: {"model": ErrorResponse, "description": "No indexed item with this id."},
    422: {"model": ErrorResponse, "description": "Invalid parameter value (the message names the parameter)."},
}
"""OpenAPI ``responses`` of the routes that can fail with 400, 404 or 422."""
