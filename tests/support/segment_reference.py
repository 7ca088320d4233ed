"""Slow, literal references of the original SGM segmentation steps (AFI ``gen_sgm.py`` and
``linefiller``), written from their description in ARCHITECTURE.md §5.2-5.3, one region or pixel
at a time. The fast versions in ``core.sgm.segment`` must equal these exactly. Only for tests on
small images: each step is O(regions x pixels).
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.filters import apply_hysteresis_threshold

CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def ball(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


# ---------------------------------------------------------------------------------------- lines
def lines_reference(frame_bgr: np.ndarray, low: float, high: float,
                    bilateral: tuple[int, int, int]) -> np.ndarray:
    """uint8 binary (255 region, 0 line), computed step by step on (H, W, 3) float32 arrays."""
    smooth = cv2.bilateralFilter(frame_bgr, *bilateral)
    lap = cv2.Laplacian(smooth, ddepth=cv2.CV_32F, ksize=5)
    with np.errstate(divide="ignore", invalid="ignore"):
        lap = lap * (np.float32(255.0) / np.float32(lap.max()))
    keep = apply_hysteresis_threshold(lap, low, high)
    lap[~keep] = 0
    boundary = np.clip(255 - np.max(lap * 20, axis=2), 0, 255).astype(np.uint8)
    return np.where(boundary > 220, 255, 0).astype(np.uint8)


# ---------------------------------------------------------------------------------------- fills
def _flood(region: np.ndarray, seed_xy: tuple[int, int]) -> np.ndarray:
    """4-connected component of the bool mask ``region`` containing ``seed_xy``."""
    h, w = region.shape
    barrier = np.pad((~region).astype(np.uint8), 1, constant_values=1)
    canvas = np.zeros((h, w), np.uint8)
    cv2.floodFill(canvas, barrier, seed_xy, 1, 0, 0, 4)
    return canvas.astype(bool)


def trapped_ball_reference(unfilled: np.ndarray, radius: int, max_fills: int = 1000) -> list[np.ndarray]:
    """The original single-fill loop: seed = first pixel of the eroded unfilled area; flood the
    unfilled area from it; erode that component by the ball; flood again from the seed; dilate by
    the ball; that is one fill. Returns every fill (bool masks) in creation order."""
    b = ball(radius)
    todo = unfilled.astype(bool).copy()
    fills = []
    for _ in range(max_fills):
        seeds = np.argwhere(cv2.erode(todo.astype(np.uint8), b) > 0)
        if len(seeds) == 0:
            break
        seed = (int(seeds[0][1]), int(seeds[0][0]))
        component = _flood(todo, seed)
        shrunk = cv2.erode(component.astype(np.uint8), b) > 0
        core = _flood(shrunk, seed)
        fill = cv2.dilate(core.astype(np.uint8), b) > 0
        todo &= ~fill
        fills.append(fill)
    return fills


def fill_map_reference(binary: np.ndarray) -> np.ndarray:
    """Radius 3 (largest fills only), 2, 1, then flood fills; ids in creation order, lines 0."""
    todo = binary > 0
    kept: list[np.ndarray] = []
    for radius, largest in ((3, True), (2, False), (1, False)):
        fills = trapped_ball_reference(todo, radius)
        if largest and fills:
            sizes = [int(f.sum()) for f in fills]
            fills = [f for f, s in zip(fills, sizes) if s >= max(sizes)]
        elif largest:
            fills = []
        for f in fills:
            todo &= ~f
        kept += fills
    for _ in range(20000):
        seeds = np.argwhere(todo)
        if len(seeds) == 0:
            break
        fill = _flood(todo, (int(seeds[0][1]), int(seeds[0][0])))
        todo &= ~fill
        kept.append(fill)
    out = np.zeros(binary.shape, np.int64)
    for i, f in enumerate(kept):
        out[f] = i + 1
    return out


# ---------------------------------------------------------------------------------------- merge
def colour_histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """75 bins: np.histogram with 25 bins over each channel's own range, L1-normalised."""
    counts = np.concatenate([np.histogram(image[:, :, c][mask], 25)[0] for c in range(3)])
    return counts / counts.sum()


def approx_vertex_count(mask: np.ndarray) -> int:
    """Vertices of approxPolyDP (2 % of the perimeter) of the first external contour, on the
    region's bounding box grown by 2 px (clipped), as the original computed it."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    y0, y1 = max(ys.min() - 2, 0), min(ys.max() + 3, h)
    x0, x1 = max(xs.min() - 2, 0), min(xs.max() + 3, w)
    crop = (mask[y0:y1, x0:x1] * 255).astype(np.uint8)
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return len(cv2.approxPolyDP(contours[0], 0.02 * cv2.arcLength(contours[0], True), True))


def merge_pass_reference(labels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """One pass of the original small-region merge. Statistics are taken at the start of the
    pass; neighbour ids are read from the map as it is being changed."""
    labels = labels.copy()
    ids = np.unique(labels)
    stats = {}
    for i in ids:
        mask = labels == i
        stats[i] = (mask, int(mask.sum()), colour_histogram(image, mask))
    for i in ids:
        mask, area, hist = stats[i]
        if i == 0 or area >= 500:
            continue
        border = (cv2.dilate(mask.astype(np.uint8), CROSS) > 0) & ~mask
        values, counts = np.unique(labels[border], return_counts=True)
        counts = counts[values != 0]
        values = values[values != 0]
        new_id = i
        best, count_at_best, score = -1.0, -1, -1.0
        if len(values) == 0:
            if area < 5:
                new_id = 0
        else:
            new_id = values[0]
            for v, c in zip(values, counts):
                score = float(np.sum(np.min([hist[None], stats[v][2][None]], axis=0)))
                if score > best:
                    best, count_at_best, new_id = score, c, v
        if approx_vertex_count(mask) == 1 or area == 1 or area < 300 and len(values) == 1 or area < 500 and len(values) == 1 and count_at_best > 2 or area < 50:
            labels[mask] = new_id
        else:
            if score > 0.2 and area < 150 and count_at_best > 1:
                labels[mask] = new_id
            if score > 0.25 and area < 250 and count_at_best > 8:
                labels[mask] = new_id
    return labels


def merge_reference(fill_map: np.ndarray, image: np.ndarray, max_passes: int = 10) -> np.ndarray:
    labels = fill_map.copy()
    for _ in range(max_passes):
        before = len(np.unique(labels))
        labels = merge_pass_reference(labels, image)
        if len(np.unique(labels)) == before:
            break
    return labels


# ------------------------------------------------------------------------------------- thinning
def thinning_reference(labels: np.ndarray, max_passes: int = 100) -> np.ndarray:
    """Line pixels next to a region take the first region id among their 8 neighbours, in the
    order left, up-left, up, up-right, right, down-right, down, down-left; column 0 and row 0
    never serve as a source (the original tests ``x - 1 > 0`` and ``y - 1 > 0``)."""
    h, w = labels.shape
    out = labels.copy()
    for _ in range(max_passes):
        if not (out == 0).any():
            break
        line = (out == 0).astype(np.uint8)
        touching = (cv2.dilate(1 - line, CROSS) > 0) & (line > 0)
        start = out.copy()
        for y, x in zip(*np.nonzero(touching)):
            for dy, dx, ok in ((0, -1, x - 1 > 0), (-1, -1, x - 1 > 0 and y - 1 > 0),
                               (-1, 0, y - 1 > 0), (-1, 1, y - 1 > 0 and x + 1 < w),
                               (0, 1, x + 1 < w), (1, 1, x + 1 < w and y + 1 < h),
                               (1, 0, y + 1 < h), (1, -1, y + 1 < h and x - 1 > 0)):
                if ok and start[y + dy, x + dx] != 0:
                    out[y, x] = start[y + dy, x + dx]
                    break
    return out


# -------------------------------------------------------------------------------------- relabel
def relabel_reference(labels: np.ndarray) -> np.ndarray:
    """Ids 0..L-1 by ascending pixel count, ties as numpy's default argsort orders them."""
    values, counts = np.unique(labels, return_counts=True)
    out = labels.copy()
    for rank, k in enumerate(np.argsort(counts)):
        out[labels == values[k]] = rank
    return out
