"""A small thread-safe in-memory LRU cache of bytes, bounded by entry count and total size."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable


class BytesLRU:
    """Least-recently-used cache mapping keys to ``bytes`` values.

    Args:
        max_items: at most this many entries are kept.
        max_bytes: the values together take at most this many bytes (an entry larger
            than this is returned but not stored).
    """

    def __init__(self, max_items: int = 4096, max_bytes: int = 64 * 1024 * 1024):
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._data: OrderedDict[Hashable, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: Hashable) -> bytes | None:
        """The cached value (marking it most recently used), or ``None``."""
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: bytes) -> None:
        """Store ``value``, evicting least recently used entries beyond the bounds."""
        if len(value) > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._data[key] = value
            self._size += len(value)
            while len(self._data) > self.max_items or self._size > self.max_bytes:
                _, evicted = self._data.popitem(last=False)
                self._size -= len(evicted)

    def get_or_create(self, key: Hashable, make: Callable[[], bytes]) -> bytes:
        """Cached value for ``key``; computes it with ``make()`` (outside the lock) on a miss."""
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value
