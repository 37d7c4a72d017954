"""Running an iterator one step ahead in a background thread (reads overlap with encoding).

:func:`prefetched` yields what ``items`` yields, in order, while a thread already computes
the next ones: at most ``depth`` finished items wait in the queue (memory: ``depth`` items
besides the one the consumer holds and the one being produced). An exception of the
iterator is raised in the consumer at the place it would have been; when the consumer
stops early (an exception, ``close()``), the thread is told to stop and is joined.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """``items``, produced in a background thread at most ``depth`` ahead (module doc)."""
    out: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    stop = threading.Event()

    def put(value) -> bool:
        while not stop.is_set():
            try:
                out.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # handed to the consumer
            put((False, exc))

    thread = threading.Thread(target=produce, name="mlrsir-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = out.get()
            if not ok:
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        thread.join(timeout=60)
