"""Relabelling by size (the original ``squeeze_label_map``)."""
from __future__ import annotations

import numpy as np


def relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Ids ``0..L-1`` ordered by ascending pixel count.

    Ties are ordered exactly as the original: ``np.argsort`` (default kind) of the pixel counts
    of the sorted distinct ids, i.e. of ``np.unique(labels, return_counts=True)[1]`` (computed
    here with a bincount, which gives the same int64 array without sorting the pixels).

    Args:
        labels: non-negative ``int (H, W)`` ids.

    Returns:
        ``int32 (H, W)``.
    """
    if labels.size and labels.max() >= labels.size:  # sparse ids: count them by sorting
        values, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        rank = np.empty(values.size, np.int32)
        rank[np.argsort(counts)] = np.arange(values.size, dtype=np.int32)
        return rank[inverse.reshape(labels.shape)]
    counts = np.bincount(labels.ravel())
    values = np.flatnonzero(counts)
    order = np.argsort(counts[values].astype(np.intp))
    rank = np.zeros(counts.size, np.int32)
    rank[values[order]] = np.arange(values.size, dtype=np.int32)
    return rank[labels]
