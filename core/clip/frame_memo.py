"""A small memo of per-frame work, keyed by the frame's content.

Interpolating a clip pair by pair meets every interior frame twice: as the second frame of one
pair and the first of the next. Per-frame SGM work (segmentation, the VGG forward, per-segment
descriptors) does not depend on the other frame, so it is done once and looked up the second time.
Keys are a digest of the pixels, not object identity, so a frame converted or copied on the way
still hits, and a different frame at a reused address never does.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def frame_digest(frame: np.ndarray) -> tuple[str, tuple[int, ...], str]:
    """``(blake2b hex digest of the bytes, shape, dtype)``: about 1 ms for a 960x540 RGB frame."""
    data = np.ascontiguousarray(frame)
    return hashlib.blake2b(data.data, digest_size=16).hexdigest(), data.shape, data.dtype.str


class FrameMemo:
    """Least-recently-used memo of at most ``capacity`` per-frame results.

    Args:
        capacity: entries kept; 2 covers a clip walked pair by pair.
    """

    def __init__(self, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, frame: np.ndarray, context: Hashable, compute: Callable[[], T]) -> T:
        """The memoised result for ``frame`` under ``context`` (everything else the result depends
        on: options, network, device), computing and storing it on a miss.

        Safe to call from several threads; ``compute`` runs outside the lock, so two frames are
        computed at the same time.
        """
        key = (frame_digest(frame), context)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]  # type: ignore[return-value]
            self.misses += 1
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._entries)
