"""The fill map before merging: trapped-ball fills of radius 3, 2, 1, then flood fills
(``trapped_ball_processed`` of the original, ARCHITECTURE.md §5.3 steps 1-5)."""
from __future__ import annotations

from time import perf_counter

import cv2
import numpy as np

from .trapped_ball import trapped_ball_fills

FILL_RADII = ((3, True), (2, False), (1, False))
"""``(radius, keep only the largest fills)`` of the three trapped-ball passes, in order."""

MAX_FLOOD_FILLS = 20000
"""The original stops the final flood fills after this many; later regions stay lines (0)."""


def flood_fills(unfilled: np.ndarray, max_fills: int = MAX_FLOOD_FILLS) -> tuple[np.ndarray, int]:
    """4-connected components of ``unfilled`` (``uint8 (H, W)``, nonzero = unfilled), numbered
    ``1..k`` in raster order of their first pixel (the original's seed order), capped at
    ``max_fills``. Returns ``(int32 (H, W) labels, k)``."""
    n, labels = cv2.connectedComponents((unfilled > 0).view(np.uint8), connectivity=4,
                                        ltype=cv2.CV_32S)
    if n - 1 > max_fills:
        labels[labels > max_fills] = 0
    return labels, min(n - 1, max_fills)


def _add_fills(fill_map: np.ndarray, unfilled: np.ndarray, fills: np.ndarray, offset: int) -> None:
    """Write fills ``1..k`` as ids ``offset + 1..`` into ``fill_map`` and take them out of
    ``unfilled`` (fills never overlap earlier ones)."""
    filled = fills > 0
    np.copyto(fill_map, fills + np.int32(offset), where=filled)
    np.copyto(unfilled, 0, where=filled)


def build_fill_map(binary: np.ndarray, timings: dict[str, float] | None = None) -> np.ndarray:
    """Fill map of a binary line image.

    Args:
        binary: ``uint8 (H, W)``, 255 = region, 0 = line.
        timings: optional dict that receives the seconds spent in each pass.

    Returns:
        ``int32 (H, W)``: 0 on lines, fill ``i`` (creation order: kept radius-3 fills, radius-2,
        radius-1, flood fills) has id ``i`` >= 1.
    """
    unfilled = (binary > 0).view(np.uint8).copy()
    fill_map = np.zeros(binary.shape, np.int32)
    next_id = 1
    for radius, keep_largest in FILL_RADII:
        t0 = perf_counter()
        fills, k = trapped_ball_fills(unfilled, radius, keep_largest)
        _add_fills(fill_map, unfilled, fills, next_id - 1)
        next_id += k
        if timings is not None:
            timings[f"trapped_ball_r{radius}"] = perf_counter() - t0
    t0 = perf_counter()
    fills, k = flood_fills(unfilled)
    _add_fills(fill_map, unfilled, fills, next_id - 1)
    if timings is not None:
        timings["flood_fill"] = perf_counter() - t0
    return fill_map
