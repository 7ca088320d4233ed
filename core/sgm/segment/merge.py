"""Merging of small regions into similar neighbours (the original ``my_merge_fill``), exact.

One pass of the original visits every region with fewer than 500 pixels in ascending id order.
Region statistics (pixels, area, colour histogram) are taken at the start of the pass, but the
neighbour ids are read from the label map *as it is being rewritten*: an earlier merge in the same
pass is visible (a region can even see its own id next to it, after a neighbour merged into it).
Rules, first match wins (ARCHITECTURE.md §5.3):

=======================================================  ========================================
no neighbour (other than lines) and area < 5             becomes line (0)
approxPolyDP of the first outer contour has 1 vertex,    merge into the most similar neighbour
or area == 1
area < 300 and exactly one neighbour id                  merge
area < 500, one neighbour id, > 2 contact pixels         merge
area < 50                                                merge
score > 0.2, area < 150, contact > 1                     merge
score > 0.25, area < 250, contact > 8                    merge
=======================================================  ========================================

"Most similar" = the first neighbour id (ascending) with the largest histogram intersection;
"contact" = the border pixels carrying that id; "score" (a quirk) = the intersection with the
*last* neighbour id examined, not with the best one. Passes repeat (at most 10) until the number
of distinct ids stops changing.

How this stays exact but fast: a region's pixels change label only when the region itself is
visited, so the label a border pixel shows is ``new_label[owner]`` if its owner (the region it
belonged to at the start of the pass) was visited earlier, else ``owner``. Each pass therefore
collects, once and vectorised, every small region's border pixels with their owners and contact
counts, then decides the regions in *levels*: a region's level is one more than the highest level
of the smaller-id small regions it touches, so all regions of a level read only decided labels and
are decided together. Only small regions' pixels ever move, so each pass works on those pixels
alone; large regions keep 256-bin colour counts that merges add to.

The one-vertex test: for an 8-connected region, approxPolyDP of its outer contour has one vertex
exactly when the region is one pixel (checked on ~39,000 small shapes), so ``area == 1`` decides.
But a pass can leave an id in pieces: when a region merged away after others had merged into it,
those others keep its id and may not touch each other. Such ids are flagged, and for them the
original's contour test is run with OpenCV as it was (its first contour may be a lone pixel).
"""
from __future__ import annotations

import cv2
import numpy as np

from ...errors import InputError
from ...progress import checkpoint
from .histogram import BINS, histograms_from_counts, histograms_from_pixels, normalised

MAX_MERGE_PASSES = 10
SMALL_REGION = 500
"""Regions with this many pixels or more are never merged (nor visited)."""
LINE_IF_ALONE_BELOW = 5
"""A region without neighbours becomes line below this area."""
ONE_NEIGHBOUR_AREA = 300
ONE_NEIGHBOUR_CONTACT = 2
ALWAYS_MERGE_BELOW = 50
SIMILAR_RULES = ((0.2, 150, 1), (0.25, 250, 8))
"""``(score above, area below, contact above)`` of the two similarity rules, in order."""
APPROX_EPSILON = 0.02
"""approxPolyDP tolerance as a fraction of the contour perimeter."""

_OUTSIDE = -1  # label of the 1-pixel frame around the map


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def _argsort_ids(ids: np.ndarray, n_ids: int) -> np.ndarray:
    """Stable argsort of non-negative ids (a radix sort when they fit in 16 bits)."""
    return np.argsort(ids.astype(np.uint16) if n_ids <= 1 << 16 else ids, kind="stable")


class _LabelMap:
    """The label map inside a 1-pixel frame (flat, so that neighbours are index offsets), the
    frame's colours, and per-id area plus 256-bin colour counts of the large regions."""

    def __init__(self, fill_map: np.ndarray, image: np.ndarray) -> None:
        h, w = fill_map.shape
        self.shape = (h, w)
        self.width = w + 2
        framed = np.full((h + 2, w + 2), _OUTSIDE, np.int32)
        framed[1:-1, 1:-1] = fill_map
        self.labels = framed.ravel()
        framed_image = cv2.copyMakeBorder(image, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        self.colours = np.stack([c.ravel() for c in cv2.split(framed_image)])
        self.n_ids = int(fill_map.max()) + 1
        self.area = np.bincount(fill_map.ravel(), minlength=self.n_ids)
        self.counts = np.zeros((self.n_ids, 3, 256), np.int32)  # rows of large regions only
        self.has_counts = np.zeros(self.n_ids, bool)
        self.maybe_split = np.zeros(self.n_ids, bool)  # may consist of several 8-connected parts
        self.hist = np.empty((self.n_ids, 3 * BINS))  # normalised histograms, where hist_valid
        self.hist_valid = np.zeros(self.n_ids, bool)
        # 256-bin colour counts of the large regions, straight from the full frame
        large = np.flatnonzero(self.area >= SMALL_REGION)
        large = large[large > 0]
        rank = np.full(self.n_ids, large.size, np.intp)  # everything else -> one spare row
        rank[large] = np.arange(large.size)
        key = rank[fill_map].ravel() * 256
        for c in range(3):
            counts = np.bincount(key + image[:, :, c].ravel(), minlength=(large.size + 1) * 256)
            self.counts[large, c] = counts[: large.size * 256].reshape(-1, 256)
        self.has_counts[large] = True

    def interior(self) -> np.ndarray:
        h, w = self.shape
        return self.labels.reshape(h + 2, w + 2)[1:-1, 1:-1].copy()

    def is_small(self) -> np.ndarray:
        small = (self.area > 0) & (self.area < SMALL_REGION)
        small[0] = False
        return small

    def add_counts(self, pixels: np.ndarray) -> None:
        """Add the colours of ``pixels`` (framed flat indices) to the counts of their regions."""
        if pixels.size == 0:
            return
        label = self.labels[pixels]
        ids = np.flatnonzero(np.bincount(label, minlength=self.n_ids))
        rank = np.zeros(self.n_ids, np.intp)
        rank[ids] = np.arange(ids.size)
        key = rank[label] * 256
        for c in range(3):
            add = np.bincount(key + self.colours[c, pixels], minlength=ids.size * 256)
            self.counts[ids, c] += add.reshape(ids.size, 256).astype(np.int32)
        self.has_counts[ids] = True

    def update_histograms(self, ids: np.ndarray, pixels_by_id: np.ndarray, first: np.ndarray) -> None:
        """Make ``hist`` valid for ``ids`` (the original's normalised 75-bin histograms)."""
        ids = ids[~self.hist_valid[ids]]
        if ids.size:
            self.hist[ids] = self._histograms(ids, pixels_by_id, first)
            self.hist_valid[ids] = True

    def _histograms(self, ids: np.ndarray, pixels_by_id: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Histograms of ``ids`` (``float64 (k, 75)``): from the counts for large regions, from the
        pixels (``pixels_by_id`` sorted by id, ``first[id]`` = index of an id's first pixel there)
        for small ones."""
        out = np.empty((ids.size, 3 * BINS))
        large = self.has_counts[ids]
        if large.any():
            big = ids[large]
            out[large] = normalised(histograms_from_counts(self.counts[big]), self.area[big])
        if not large.all():
            small = ids[~large]
            size = self.area[small]
            starts = np.r_[0, np.cumsum(size)[:-1]]
            at = np.repeat(first[small] - starts, size) + np.arange(size.sum())
            values = self.colours[:, pixels_by_id[at]]
            out[~large] = normalised(histograms_from_pixels(values, starts), size)
        return out


# ------------------------------------------------------------------------------------ border data
def _border_contacts(labels: np.ndarray, small_pixels: np.ndarray, is_small: np.ndarray,
                     width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every small region: the owners of its border pixels and how many border pixels each
    owns. A border pixel is a 4-neighbour of the region outside it, counted once per region.

    Returns ``(region, owner, count)`` sorted by region then owner; owner 0 (line) left out.
    """
    steps = (-1, 1, -width, width)
    touched = np.zeros(labels.size, bool)
    for step in steps:
        touched[small_pixels + step] = True
    q = np.flatnonzero(touched)
    owner = labels[q]
    keep = owner > 0  # neither line (0) nor the frame
    q, owner = q[keep], owner[keep]
    seen = []
    regions, owners = [], []
    for step in steps:
        r = labels[q + step]
        new = (r > 0) & (r != owner)
        new[new] = is_small[r[new]]
        for earlier in seen:
            new &= r != earlier
        seen.append(r)
        regions.append(r[new])
        owners.append(owner[new])
    region = np.concatenate(regions).astype(np.int64)
    owner = np.concatenate(owners).astype(np.int64)
    n = int(is_small.size)
    key, count = np.unique(region * n + owner, return_counts=True)
    return key // n, key % n, count


def _levels(region: np.ndarray, owner: np.ndarray, is_small: np.ndarray) -> np.ndarray:
    """Level of each id: 0 if it touches no smaller small region, else 1 + the highest level of
    those it touches (``region``/``owner`` sorted by region)."""
    dep = is_small[owner] & (owner < region)
    a, o = region[dep], owner[dep]
    level = np.zeros(is_small.size, np.int64)
    if a.size == 0:
        return level
    starts = _run_starts(a)
    heads = a[starts]
    while True:
        proposed = np.maximum.reduceat(level[o], starts) + 1
        grow = proposed > level[heads]
        if not grow.any():
            return level
        level[heads[grow]] = proposed[grow]


def _approx_is_point(labels: np.ndarray, width: int, pixels: np.ndarray) -> bool:
    """Whether approxPolyDP of the region's first external contour has one vertex, computed the
    original's way (on the bounding box grown by 2 px). ``pixels``: framed flat indices."""
    ys, xs = np.divmod(pixels, width)
    h = labels.size // width
    y0, y1 = max(ys.min() - 2, 1), min(ys.max() + 3, h - 1)
    x0, x1 = max(xs.min() - 2, 1), min(xs.max() + 3, width - 1)
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    crop[ys - y0, xs - x0] = 255
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    first = contours[0]
    return len(cv2.approxPolyDP(first, APPROX_EPSILON * cv2.arcLength(first, True), True)) == 1


# ------------------------------------------------------------------------------------------ rules
def _decide(regions: np.ndarray, area: np.ndarray, point_like: np.ndarray, g_region: np.ndarray,
            g_label: np.ndarray, g_count: np.ndarray, g_score: np.ndarray) -> np.ndarray:
    """New label of each visited region (its own id when it stays).

    Args:
        regions: visited ids, ascending; ``area``/``point_like`` per visited id.
        g_region, g_label, g_count, g_score: one entry per distinct live neighbour label of a
            region (sorted by region, then label): the label, its contact count and its
            histogram intersection with the region (-1 where not needed).
    """
    n = regions.size
    n_labels = np.bincount(np.searchsorted(regions, g_region), minlength=n)
    has = n_labels > 0
    best_label = np.where(area < LINE_IF_ALONE_BELOW, 0, regions)  # when there is no neighbour
    contact = np.full(n, -1, np.int64)
    last_score = np.full(n, -1.0)
    if g_region.size:
        starts = _run_starts(g_region)
        ends = np.r_[starts[1:], g_region.size]
        best = np.repeat(np.maximum.reduceat(g_score, starts), ends - starts)
        index = np.arange(g_region.size)
        first_best = np.minimum.reduceat(np.where(g_score == best, index, g_region.size), starts)
        best_label[has] = g_label[first_best]
        contact[has] = g_count[first_best]
        last_score[has] = g_score[ends - 1]

    one = n_labels == 1
    merge = point_like | (area == 1)
    merge |= one & (area < ONE_NEIGHBOUR_AREA)
    merge |= one & (area < SMALL_REGION) & (contact > ONE_NEIGHBOUR_CONTACT)
    merge |= area < ALWAYS_MERGE_BELOW
    for score_above, area_below, contact_above in SIMILAR_RULES:
        merge |= (last_score > score_above) & (area < area_below) & (contact > contact_above)
    return np.where(merge, best_label, regions)


def _needs_scores(area: np.ndarray, point_like: np.ndarray, n_labels: np.ndarray) -> np.ndarray:
    """Where histogram intersections can change the outcome: a choice between several labels,
    for a region that some rule can still merge (larger ones stay whatever the scores)."""
    score_area = max(area_below for _, area_below, _ in SIMILAR_RULES)
    return (n_labels > 1) & (point_like | (area < score_area))


# ------------------------------------------------------------------------------------------- pass
def _merge_pass(lm: _LabelMap, small_pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the small regions. Returns the new label of every id (identity for ids
    that stay) and the small regions' pixels at the start of the pass."""
    n_ids, area, labels = lm.n_ids, lm.area, lm.labels
    is_small = lm.is_small()
    small_pixels = small_pixels[is_small[labels[small_pixels]]]
    new_label = np.arange(n_ids)
    if small_pixels.size == 0:
        return new_label, small_pixels
    pixel_label = labels[small_pixels]
    by_id = small_pixels[_argsort_ids(pixel_label, n_ids)]
    first = np.zeros(n_ids + 1, np.int64)
    np.cumsum(np.where(is_small, area, 0), out=first[1:])

    g_region, g_owner, g_count = _border_contacts(labels, small_pixels, is_small, lm.width)
    level = _levels(g_region, g_owner, is_small)
    visit = np.flatnonzero(is_small)
    visit_level = level[visit]
    pair_level = level[g_region]

    point_like = np.zeros(n_ids, bool)
    for r in visit[lm.maybe_split[visit] & (area[visit] > 1)]:
        point_like[r] = _approx_is_point(labels, lm.width, by_id[first[r]: first[r + 1]])

    for lv in range(int(visit_level.max()) + 1):
        checkpoint("segment")
        todo = visit[visit_level == lv]
        sel = pair_level == lv
        a, live, c = g_region[sel], new_label[g_owner[sel]], g_count[sel]
        keep = live != 0
        a, live, c = a[keep], live[keep], c[keep]
        key, inverse = np.unique(a * n_ids + live, return_inverse=True)
        ga, gl = key // n_ids, key % n_ids
        gc = np.bincount(inverse, weights=c, minlength=key.size).astype(np.int64)
        at = np.searchsorted(todo, ga)
        n_labels = np.bincount(at, minlength=todo.size)
        scored = _needs_scores(area[todo], point_like[todo], n_labels)[at]
        lm.update_histograms(np.unique(np.concatenate([ga[scored], gl[scored]])), by_id, first)
        score = np.full(ga.size, -1.0)
        score[scored] = np.minimum(lm.hist[ga[scored]], lm.hist[gl[scored]]).sum(axis=1)
        new_label[todo] = _decide(todo, area[todo], point_like[todo], ga, gl, gc, score)
    return new_label, small_pixels


def _apply(lm: _LabelMap, new_label: np.ndarray, small_pixels: np.ndarray) -> None:
    """Move the pixels of the merged regions and update areas, counts and split flags."""
    sources = np.flatnonzero(new_label != np.arange(lm.n_ids))
    if sources.size == 0:
        return
    targets = new_label[sources]
    old = lm.labels[small_pixels]
    moved_pixels = small_pixels[new_label[old] != old]
    lm.labels[small_pixels] = new_label[old]
    area = lm.area[sources]
    lm.area[sources] = 0
    np.add.at(lm.area, targets, area)
    lm.hist_valid[sources] = False
    lm.hist_valid[targets] = False
    # a region that moved away but still receives others may be left in pieces; pieces stay
    moved = np.zeros(lm.n_ids, bool)
    moved[sources] = True
    into = targets[targets > 0]
    lm.maybe_split[into[moved[into]]] = True
    lm.maybe_split[targets[lm.maybe_split[sources] & (targets > 0)]] = True
    # counts: large targets gain the moved pixels; regions that just became large get all theirs
    became_large = (lm.area >= SMALL_REGION) & ~lm.has_counts
    became_large[0] = False
    now = lm.labels[small_pixels]
    lm.add_counts(np.concatenate([
        moved_pixels[lm.has_counts[lm.labels[moved_pixels]]],
        small_pixels[became_large[now]],
    ]))


def merge_small_regions(fill_map: np.ndarray, image_bgr: np.ndarray,
                        max_passes: int = MAX_MERGE_PASSES) -> np.ndarray:
    """The original's ``my_merge_fill``.

    Args:
        fill_map: ``int (H, W)`` non-negative region ids, 0 = line.
        image_bgr: ``uint8 (H, W, 3)`` frame in BGR order (the channel order matters: it fixes
            the order in which the 75 histogram bins are summed).
        max_passes: at most this many passes.

    Returns:
        ``int32 (H, W)``: merged ids (a subset of the input ids, plus 0).
    """
    fill_map = np.asarray(fill_map)
    if image_bgr.dtype != np.uint8 or image_bgr.shape != fill_map.shape + (3,):
        raise InputError(f"merge_small_regions: the image must be uint8 {fill_map.shape + (3,)}, got "
                         f"{image_bgr.dtype} {image_bgr.shape}")
    if fill_map.min() < 0:
        raise InputError("merge_small_regions: region ids must be >= 0 (0 = line)")
    ids = None
    if fill_map.max() >= fill_map.size:  # sparse ids: work on their ranks (same order)
        ids, fill_map = np.unique(fill_map, return_inverse=True)
        fill_map = fill_map.reshape(image_bgr.shape[:2])
        if ids[0] != 0:
            ids, fill_map = np.r_[0, ids], fill_map + 1
    lm = _LabelMap(np.asarray(fill_map, np.int32), image_bgr)
    small_pixels = np.flatnonzero(lm.labels > 0)
    for _ in range(max_passes):
        checkpoint("segment")
        ids_before = np.count_nonzero(lm.area)
        new_label, small_pixels = _merge_pass(lm, small_pixels)
        _apply(lm, new_label, small_pixels)
        if np.count_nonzero(lm.area) == ids_before:
            break
    merged = lm.interior()
    return merged if ids is None else ids[merged].astype(np.int32)
