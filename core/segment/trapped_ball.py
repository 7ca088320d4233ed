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
Most components are final in the first round; a few rounds settle the chains of regions joined
by narrow necks. Final cores are never 4-adjacent, so one labelling of their union numbers them
in seed order, which is the original's fill order.
"""
from __future__ import annotations

import cv2
import numpy as np

MAX_TRAPPED_BALL_FILLS = 1000
"""The original stops each radius after this many fills."""


def ball(radius: int) -> np.ndarray:
    """The original's structuring element: ``cv2.MORPH_ELLIPSE`` of size ``2 * radius + 1``."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _label_image(labels: np.ndarray, n: int, background: str) -> np.ndarray:
    """Labels in the narrowest dtype OpenCV morphology accepts; background 0 -> min or max value."""
    if n < np.iinfo(np.uint16).max:
        out = labels.astype(np.uint16)
        fill = np.iinfo(np.uint16).max
    else:
        out = labels.astype(np.float32 if n < 2**24 else np.float64)
        fill = np.inf
    if background == "max":
        out[labels == 0] = fill
    return out


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
    box = _shrink_box(active, (slice(0, None), slice(0, None)), 2 * radius, active.shape)
    while box is not None:
        act = active[box]
        n, lab = cv2.connectedComponents(act, connectivity=4, ltype=cv2.CV_32S)
        # smallest label whose dilation meets the dilation of this pixel (the border is no pixel)
        lab_min = _label_image(lab, n, "max")
        reach = cv2.erode(cv2.erode(lab_min, b), b)
        blocked = np.zeros(n, bool)
        blocked[lab[reach < lab_min]] = True
        blocked[0] = True
        ready = (~blocked)[lab].view(np.uint8)
        cores[box] |= ready
        act[cv2.dilate(cv2.dilate(ready, b), b) > 0] = 0
        box = _shrink_box(act, box, 2 * radius, active.shape)
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
    fills = cv2.dilate(_label_image(core_labels, n_fills + 1, "min"), ball(radius)).astype(np.int32)
    if keep_largest:
        sizes = np.bincount(fills.ravel(), minlength=n_fills + 1)
        sizes[0] = -1
        kept = sizes >= sizes.max()
        new_id = np.cumsum(kept, dtype=np.int32) * kept
        fills = new_id[fills]
        n_fills = int(new_id.max())
    return fills, n_fills
