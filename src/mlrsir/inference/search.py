"""Search by image or by indexed item: the one query path of ``mlrsir search`` and the web API.

A query is a code: the encoder's code of an image (:func:`encode_query`) or the stored
code of an indexed item (:func:`stored_code`). :func:`search_code` ranks the index by
Hamming distance to it (ties by id; ``radius`` and the label filter are applied by the
index) and returns one row per hit::

    {"rank", "id", "distance", "path", "width", "height", "labels"}

``path`` is the path stored in the index; callers format the rows (the CLI prints them,
the web API turns paths into display names and URLs). Items removed by another process
between the search and the record lookup are left out. The functions take an opened
index and an encoder (any objects with their interfaces) and hold no state, so the web
app can run them on its index thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mlrsir.errors import ConfigError

ROW_KEYS = ("rank", "id", "distance", "path", "width", "height", "labels")
"""Keys of a result row, in order."""


def encode_query(encoder, image) -> np.ndarray:
    """``(1, bits)`` uint8 code of one RGB PIL image."""
    codes, _outputs = encoder.encode_images([image])
    return np.asarray(codes, dtype=np.uint8).reshape(1, -1)


def stored_code(index, item_id: int) -> np.ndarray:
    """``(1, bits)`` uint8 stored code of an indexed item (KeyError when there is none)."""
    return np.asarray(index.codes(ids=[int(item_id)]), dtype=np.uint8).reshape(1, -1)


def search_code(
    index,
    code: np.ndarray,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    exclude_id: int | None = None,
    backend: str = "auto",
) -> list[dict[str, Any]]:
    """The ``k`` items nearest to ``code`` as result rows (see the module doc).

    Args:
        index: an opened ``CodeIndex`` (or an object with ``bits``, ``search``, ``get``).
        code: one code, ``(bits,)`` or ``(1, bits)``, values in {0, 1}.
        k: number of results.
        radius: keep only items within this Hamming distance.
        label_filter: keep only items carrying all these labels (empty: no filter).
        exclude_id: leave this item out (the query item itself); ``k`` rows are still
            returned when the index has them.
        backend: search back-end of ``CodeIndex.search``.

    Raises:
        ConfigError: the code length differs from the index's.
    """
    code = np.asarray(code, dtype=np.uint8).reshape(1, -1)
    if code.shape[1] != int(index.bits):
        raise ConfigError(f"encoder produced {code.shape[1]}-bit codes but the index stores {index.bits}-bit codes")
    fetch = int(k) + (1 if exclude_id is not None else 0)
    hits = index.search(code, k=fetch, radius=radius, backend=backend, label_filter=list(label_filter or []) or None)[0]
    hits = [(int(i), int(d)) for i, d in hits if exclude_id is None or int(i) != int(exclude_id)][: int(k)]
    rows: list[dict[str, Any]] = []
    for item_id, distance in hits:
        try:
            record = index.get(item_id)
        except KeyError:  # removed by another process after the search's snapshot
            continue
        rows.append(
            {
                "rank": len(rows) + 1,
                "id": item_id,
                "distance": distance,
                "path": record["path"],
                "width": record.get("width"),
                "height": record.get("height"),
                "labels": record.get("labels"),
            }
        )
    return rows


def search_by_image(
    index,
    encoder,
    image,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    backend: str = "auto",
) -> list[dict[str, Any]]:
    """Encode ``image`` and :func:`search_code` with its code."""
    return search_code(
        index, encode_query(encoder, image), k=k, radius=radius, label_filter=label_filter, backend=backend
    )


def search_by_item(
    index,
    item_id: int,
    *,
    k: int,
    radius: int | None = None,
    label_filter: Sequence[str] | None = None,
    include_self: bool = False,
    backend: str = "auto",
) -> list[dict[str, Any]]:
    """:func:`search_code` with the stored code of ``item_id`` (left out unless ``include_self``).

    Raises:
        KeyError: no indexed item with this id.
    """
    return search_code(
        index,
        stored_code(index, item_id),
        k=k,
        radius=radius,
        label_filter=label_filter,
        exclude_id=None if include_self else int(item_id),
        backend=backend,
    )
