"""Per-segment statistics shared by matching and coarse flow."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class SegmentStats:
    """Statistics of a label map with labels ``0..L-1``.

    Attributes:
        labels: ``int32 (H, W)`` label map.
        pixel_counts: ``int64 (L,)`` pixels per label.
        centroid_x, centroid_y: ``float64 (L,)`` mean column / row of each label.
        bbox: ``int64 (L, 4)`` inclusive boxes ``(x_min, y_min, x_max, y_max)``.
    """

    labels: np.ndarray
    pixel_counts: np.ndarray
    centroid_x: np.ndarray
    centroid_y: np.ndarray
    bbox: np.ndarray

    @property
    def num_labels(self) -> int:
        return int(self.pixel_counts.shape[0])


def check_label_map(labels: np.ndarray, name: str = "label map") -> np.ndarray:
    """Validate a label map: 2-D integer array whose labels are exactly ``0..L-1``."""
    if not isinstance(labels, np.ndarray) or labels.ndim != 2:
        raise InputError(f"{name}: expected a 2-D integer array (H, W)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{name}: expected integer labels, got {labels.dtype}")
    if labels.size == 0:
        raise InputError(f"{name}: empty")
    if labels.min() < 0:
        raise InputError(f"{name}: negative labels")
    return np.ascontiguousarray(labels, dtype=np.int32)


def segment_stats(labels: np.ndarray) -> SegmentStats:
    """Pixel counts, centroids and bounding boxes of every label, vectorised.

    Centroids are computed in float64 as ``sum / count`` (the original's ``scatter_mean`` over a
    float64 pixel grid).
    """
    labels = check_label_map(labels)
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.int64)
    if (counts == 0).any():
        raise InputError("label map: labels must be exactly 0..L-1 with no gaps")
    rows = np.repeat(np.arange(h, dtype=np.float64), w)
    cols = np.tile(np.arange(w, dtype=np.float64), h)
    cx = np.bincount(flat, weights=cols, minlength=n) / counts
    cy = np.bincount(flat, weights=rows, minlength=n) / counts
    x_min, x_max = _extent(labels, n, axis=1)
    y_min, y_max = _extent(labels, n, axis=0)
    bbox = np.stack([x_min, y_min, x_max, y_max], axis=1)
    return SegmentStats(labels, counts, cx, cy, bbox)


def _extent(labels: np.ndarray, n: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index along ``axis`` (1 = columns, 0 = rows) where each label occurs."""
    h, w = labels.shape
    size = w if axis == 1 else h
    pos = np.tile(np.arange(w), h) if axis == 1 else np.repeat(np.arange(h), w)
    present = np.zeros((size, n), bool)
    present[pos, labels.ravel()] = True
    first = present.argmax(axis=0)
    last = size - 1 - present[::-1].argmax(axis=0)
    return first.astype(np.int64), last.astype(np.int64)
