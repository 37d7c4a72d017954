"""Several readers search while one writer adds and removes: no torn state, no error.

The writer adds items in groups of ``GROUP`` (one ``CodeIndex.add`` = one transaction) and
removes whole groups; every item of group ``g`` has the code pattern of ``g`` and the label
``g<g>``. A reader therefore must always see whole groups: an item count that is a
multiple of ``GROUP``, every group complete, each code equal to its group's pattern, ids
ascending and never more items than the writer ever committed. Readers are separate
read-only connections (as ``mlrsir serve`` is to ``mlrsir index add``), in threads, and
one reader goes through :class:`mlrsir.web.service.RetrievalService` (search + record
lookups of the hits, the web server's path).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from mlrsir.index.store import CodeIndex

BITS = 16
GROUP = 5
FP = {"bits": BITS, "backbone": "fake", "method": "mlrsir", "image_size": 32, "weights_sha256": "x"}


def group_code(g: int) -> np.ndarray:
    return np.array([(g >> (i % 8)) & 1 for i in range(BITS)], dtype=np.uint8) ^ (np.arange(BITS) % 3 == 0)


def group_records(g: int) -> list[dict]:
    return [
        {"path": f"/archive/g{g:04d}/img{j}.png", "width": 10, "height": 10, "labels": [f"g{g}"]} for j in range(GROUP)
    ]


def check_snapshot(index: CodeIndex, rng: np.random.Generator) -> int:
    """One reader pass (a single search = one snapshot); raises AssertionError on a torn
    state. Returns the item count."""
    query = rng.integers(0, 2, BITS, dtype=np.uint8)
    hits = index.search(query, k=None)[0]
    ids = sorted(i for i, _ in hits)
    assert len(ids) % GROUP == 0, f"{len(ids)} items: a group is half visible"
    groups: dict[int, list[int]] = {}
    for item_id in ids:
        groups.setdefault((item_id - 1) // GROUP, []).append(item_id)
    for g, members in groups.items():
        assert len(members) == GROUP, f"group {g} torn: {members}"
    for item_id, distance in hits:  # each stored code is its group's pattern (hand Hamming)
        expected = int(np.count_nonzero(group_code((item_id - 1) // GROUP) != query))
        assert distance == expected, f"item {item_id}: distance {distance}, expected {expected}"
    assert hits == sorted(hits, key=lambda h: (h[1], h[0]))
    return len(ids)


def test_readers_and_one_writer(tmp_path):
    path = tmp_path / "ix"
    writer = CodeIndex.create(path, bits=BITS, fingerprint=FP, run_dir=None, classes=None)
    writer.add(group_records(0), np.stack([group_code(0)] * GROUP))
    stop = threading.Event()
    errors: list[BaseException] = []
    passes = [0] * 4

    def reader(slot: int) -> None:
        try:
            rng = np.random.default_rng(slot)
            with CodeIndex.open(path, readonly=True, verify=True) as index:
                while not stop.is_set():
                    check_snapshot(index, rng)
                    passes[slot] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def service_reader(slot: int) -> None:
        from mlrsir.web.schemas import SearchParams
        from mlrsir.web.service import RetrievalService
        from tests.fakes.encoder import FakeEncoder

        index = CodeIndex.open(path, readonly=True)
        service = RetrievalService(index, FakeEncoder())
        try:
            while not stop.is_set():
                item_id = service._on_index(lambda idx: idx.random_id())
                try:
                    result = service.search_item(SearchParams(item_id=item_id, k=50, include_self=True))
                except Exception as exc:
                    if "no indexed item" in str(exc):  # the query item itself was just removed: a 404
                        continue
                    raise
                found = [r["id"] for r in result["results"]]
                assert all(r["labels"] == [f"g{(r['id'] - 1) // GROUP}"] for r in result["results"])
                assert found == [r["id"] for r in sorted(result["results"], key=lambda r: (r["distance"], r["id"]))]
                passes[slot] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            service.close()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=service_reader, args=(3,)))
    for t in threads:
        t.start()
    rng = np.random.default_rng(0)
    live = [0]
    deadline = time.perf_counter() + 4.0
    g = 1
    while time.perf_counter() < deadline and not errors:
        writer.add(group_records(g), np.stack([group_code(g)] * GROUP))
        live.append(g)
        if len(live) > 3 and rng.random() < 0.4:
            gone = live.pop(int(rng.integers(len(live))))
            writer.remove([gone * GROUP + j + 1 for j in range(GROUP)])
        g += 1
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not errors, repr(errors[0])
    print(f"\nwriter: {g} groups added; reader passes: {passes}")
    assert min(passes) >= 3, passes  # every reader really ran during the writes
    assert check_snapshot(writer, rng) == GROUP * len(live)
    writer.verify()
    writer.close()
