"""Thinning: hand line pixels to the regions they touch (the original ``thinning``).

Each pass (at most 100) takes the line pixels (id 0) that are 4-adjacent to a region and gives
each the id of its first non-line 8-neighbour in the order left, up-left, up, up-right, right,
down-right, down, down-left, reading the map as it was at the start of the pass. The original
guards the neighbours on the left with ``x - 1 > 0`` and those above with ``y - 1 > 0`` (instead
of ``>= 0``): a neighbour to the left in column 0, or above in row 0, is never used. Vectorised per
pass over the remaining line pixels only.
"""
from __future__ import annotations

import numpy as np

MAX_THINNING_PASSES = 100

SOURCE_ORDER = ((0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1))
"""``(dy, dx)`` of the neighbours tried, in the original's order."""

FIRST_USABLE = 1
"""Neighbours on the left / above are used only from this column / row on (the ``> 0`` quirk)."""


def thin_lines(labels: np.ndarray, max_passes: int = MAX_THINNING_PASSES) -> np.ndarray:
    """Assign line pixels to neighbouring regions.

    Args:
        labels: ``int (H, W)`` region ids, 0 = line.
        max_passes: at most this many passes.

    Returns:
        ``int32 (H, W)``; line pixels that no pass can reach (for instance in a frame without
        regions) stay 0.
    """
    h, w = labels.shape
    wf = w + 2
    framed = np.zeros((h + 2, wf), np.int32)  # a frame of line (0): neighbours stay in the array
    framed[1:-1, 1:-1] = labels
    framed = framed.ravel()

    y, x = np.divmod(np.flatnonzero(labels.ravel() == 0), w)
    for _ in range(max_passes):
        if y.size == 0:
            break
        at = (y + 1) * wf + x + 1
        touching = np.zeros(at.size, bool)
        for step in (-1, 1, -wf, wf):
            touching |= framed[at + step] != 0
        at, ty, tx = at[touching], y[touching], x[touching]
        chosen = np.zeros(at.size, np.int32)
        for dy, dx in reversed(SOURCE_ORDER):  # the first usable neighbour is written last
            value = framed[at + dy * wf + dx]
            usable = value != 0
            if dx < 0:
                usable &= tx + dx >= FIRST_USABLE
            if dy < 0:
                usable &= ty + dy >= FIRST_USABLE
            np.copyto(chosen, value, where=usable)
        got = chosen != 0
        if not got.any():
            break  # no pass can change anything any more
        framed[at[got]] = chosen[got]
        done = np.flatnonzero(touching)[got]
        keep = np.ones(y.size, bool)
        keep[done] = False
        y, x = y[keep], x[keep]
    return framed.reshape(h + 2, wf)[1:-1, 1:-1].copy()
