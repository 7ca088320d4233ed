"""Trapped-ball fill (the original ``trapped_ball_fill_multi``), exact and vectorised.

The original fills one region at a time. With ``U`` the unfilled mask and ``B`` the ball (an
OpenCV ellipse of diameter ``2r + 1``), each step is::

    E    = erode(U, B)                        # the image border never erodes
    seed = first pixel of E in raster order
    core = 4-connected component of E containing seed
    fill = dilate(core, B)                    # lies inside U
    U    = U - fill

(The original floods ``U`` from the seed, erodes that component, floods again and dilates back;
this is the same thing.) Removing ``fill`` from ``U`` removes ``dilate(fill, B)`` from ``E``, so a
core only ever loses pixels to an *earlier* core whose fill comes within one ball of it.

Here the cores are found in rounds instead of one at a time. In a round every component of the
remaining ``E`` is labelled in raster order (= seed order). A component whose double dilation
meets no earlier component cannot lose pixels any more: it is a final core. All of them are taken
at once, their double dilations are removed from ``E``, and the next round labels what is left.
Most components are final in the first round; the few scattered chains of regions joined by narrow
necks that are left are packed into a small image (:mod:`.atlas`) where a few more rounds settle
them. Final cores are never 4-adjacent, so one labelling of their union numbers them in seed
order, which is the original's fill order.
"""
from __future__ import annotations

import cv2
import numpy as np

from ...progress import checkpoint
from .atlas import pack

MAX_TRAPPED_BALL_FILLS = 1000
"""The original stops each radius after this many fills."""


def ball(radius: int) -> np.ndarray:
    """The original's structuring element: ``cv2.MORPH_ELLIPSE`` of size ``2 * radius + 1``."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _order_image(labels: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """An image OpenCV morphology accepts whose values order the pixels like ``labels`` (labels
    ``1..n-1``), with the background (0) above every label; returns it and the background value."""
    if n <= np.iinfo(np.uint16).max:
        out = labels.astype(np.uint16)
        out -= 1  # labels -> 0..n-2, background wraps around to 65535
        return out, np.iinfo(np.uint16).max
    out = labels.astype(np.float32 if n < 2**24 else np.float64)
    out[labels == 0] = np.inf
    return out, np.inf


def _settle_round(active: np.ndarray, cores: np.ndarray, b: np.ndarray,
                  outside: np.ndarray | None = None) -> None:
    """One round, in place: the components of ``active`` that no earlier component can reach
    become ``cores``; their double dilations leave ``active``. ``outside`` (bool) marks pixels
    that stand for the outside of the image (never a meeting point, nothing spreads over them)."""
    n, lab = cv2.connectedComponents(active, connectivity=4, ltype=cv2.CV_32S)
    if n == 1:
        return
    # smallest label whose dilation meets the dilation of this pixel (inside the image)
    order, top = _order_image(lab, n)
    reach = cv2.erode(order, b)
    if outside is not None:
        reach[outside] = top
    reach = cv2.erode(reach, b)
    blocked = np.zeros(n, bool)
    blocked[lab[reach < order]] = True
    blocked[0] = True
    ready = (~blocked)[lab].view(np.uint8)
    cores |= ready
    grown = cv2.dilate(ready, b)
    if outside is not None:
        grown[outside] = 0
    reached = cv2.dilate(grown, b)
    np.bitwise_xor(reached, 1, out=reached)
    np.bitwise_and(active, reached, out=active)


def _shrink_box(mask: np.ndarray, box: tuple[slice, slice], margin: int, shape: tuple[int, int]):
    """Bounding box (grown by ``margin``, clipped to ``shape``) of ``mask``, which is the crop
    ``box`` of a larger image; ``None`` when ``mask`` is empty. Returned in image coordinates."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask[rows[0]: rows[-1] + 1].any(axis=0))
    y0, x0 = box[0].start, box[1].start
    return (
        slice(max(y0 + rows[0] - margin, 0), min(y0 + rows[-1] + margin + 1, shape[0])),
        slice(max(x0 + cols[0] - margin, 0), min(x0 + cols[-1] + margin + 1, shape[1])),
    )


ATLAS_TILE = 8
"""Tile size (at least ``2 * radius``) for packing the last, scattered pixels (:mod:`.atlas`)."""
ATLAS_BELOW = 1 / 64
"""Pack once the pixels still to settle fill less than this fraction of their bounding box."""


def trapped_ball_cores(unfilled: np.ndarray, radius: int) -> np.ndarray:
    """Union of all cores the original would create (without its fill cap).

    Args:
        unfilled: ``uint8 (H, W)``, nonzero = unfilled, 0 = line or already filled.
        radius: ball radius (the original uses 3, 2, 1).

    Returns:
        ``uint8 (H, W)`` mask of the cores (value 1); cores are pairwise not 4-adjacent.
    """
    b = ball(radius)
    active = cv2.erode((unfilled > 0).view(np.uint8), b)
    cores = np.zeros_like(active)
    margin = 2 * radius
    box = _shrink_box(active, (slice(0, None), slice(0, None)), margin, active.shape)
    while box is not None:
        checkpoint("segment")
        act = active[box]
        _settle_round(act, cores[box], b)
        box = _shrink_box(act, box, margin, active.shape)
        if box is None:
            break
        left = np.count_nonzero(active[box])
        box_area = (box[0].stop - box[0].start) * (box[1].stop - box[1].start)
        if left < box_area * ATLAS_BELOW:
            # a few scattered pixels: settle them packed together in a small image
            atlas, packed = pack(active, tile=max(ATLAS_TILE, margin), gap=margin + 1)
            packed_cores = np.zeros_like(packed)
            inner = _shrink_box(packed, (slice(0, None), slice(0, None)), margin, packed.shape)
            while inner is not None:
                checkpoint("segment")
                _settle_round(packed[inner], packed_cores[inner], b, atlas.outside[inner])
                inner = _shrink_box(packed[inner], inner, margin, packed.shape)
            atlas.copy_back(packed_cores, cores)
            break
    return cores


def trapped_ball_fills(unfilled: np.ndarray, radius: int, keep_largest: bool = False,
                       max_fills: int = MAX_TRAPPED_BALL_FILLS) -> tuple[np.ndarray, int]:
    """One radius of the original's trapped-ball fill (``trapped_ball_fill_multi``).

    Args:
        unfilled: ``uint8 (H, W)``, nonzero = unfilled, 0 = line or already filled.
        radius: ball radius.
        keep_largest: the original's ``method='max'``: keep only the fills whose size equals the
            largest fill size (no fill at all when there is none, where the original crashed).
        max_fills: the original stops after this many fills (dropped fills included).

    Returns:
        ``(fills, k)``: ``int32 (H, W)`` with the kept fills numbered ``1..k`` in the original's
        creation order, 0 elsewhere. Fills lie inside ``unfilled`` and never overlap.
    """
    cores = trapped_ball_cores(unfilled, radius)
    n, core_labels = cv2.connectedComponents(cores, connectivity=4, ltype=cv2.CV_32S)
    n_fills = min(n - 1, max_fills)
    if n_fills == 0:
        return np.zeros(unfilled.shape, np.int32), 0
    if n - 1 > n_fills:
        core_labels[core_labels > n_fills] = 0
    # the fills (core dilations) are disjoint, so a max-dilation of the labels builds all of them
    fills = cv2.dilate(core_labels.astype(np.uint16 if n_fills < 2**16 else np.float32), ball(radius))
    if keep_largest:
        sizes = np.bincount(fills.ravel().astype(np.intp), minlength=n_fills + 1)
        sizes[0] = -1
        largest = np.flatnonzero(sizes >= sizes.max())
        if largest.size == 1:
            return (fills == largest[0]).astype(np.int32), 1
        new_id = np.zeros(n_fills + 1, np.int32)
        new_id[largest] = np.arange(1, largest.size + 1)
        return new_id[fills.astype(np.intp)], int(largest.size)
    return fills.astype(np.int32), n_fills
