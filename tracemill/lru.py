"""A small thread-safe LRU map for per-worker caches that must not grow with the corpus."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most `capacity` entries; `on_evict(key, value)` runs for each entry pushed out."""

    def __init__(self, capacity: int, on_evict: Callable[[K, V], None] | None = None):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity, self._on_evict = capacity, on_evict
        self._data: OrderedDict[K, V] = OrderedDict()
        self.lock = threading.RLock()

    def get(self, key: K) -> V | None:
        with self.lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: K, value: V) -> None:
        with self.lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                old_key, old_value = self._data.popitem(last=False)
                if self._on_evict:
                    self._on_evict(old_key, old_value)

    def clear(self) -> None:
        with self.lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
