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
are decided together. Merging a region into another only moves its pixels, so region areas and
256-bin colour counts are carried from pass to pass by adding rows, never recomputed from pixels.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import csr_matrix

from .histogram import BINS, histograms_from_counts, normalised

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


# ------------------------------------------------------------------------------ region statistics
class _Regions:
    """Per-id area and 256-bin colour counts of a label map, kept up to date across merges."""

    def __init__(self, labels: np.ndarray, image: np.ndarray) -> None:
        self.n_ids = int(labels.max()) + 1
        self.area = np.bincount(labels, minlength=self.n_ids)
        counts = np.empty((self.n_ids, 3, 256), np.int32)
        key = labels.astype(np.int64) * 256
        for c in range(3):
            counts[:, c] = np.bincount(key + image[:, c], minlength=self.n_ids * 256).reshape(-1, 256)
        self.counts = counts
        self.maybe_split = np.zeros(self.n_ids, bool)  # may consist of several 8-connected parts

    def move(self, sources: np.ndarray, targets: np.ndarray) -> None:
        """Relabel every pixel of region ``sources[i]`` to ``targets[i]`` (0 = line); the
        targets are ids as they were before this move."""
        moved = np.zeros(self.n_ids, bool)
        moved[sources] = True
        area = self.area[sources]
        self.area[sources] = 0
        np.add.at(self.area, targets, area)
        keep = targets > 0
        sources, targets = sources[keep], targets[keep]
        if sources.size == 0:
            return
        into, row = np.unique(targets, return_inverse=True)
        gather = csr_matrix((np.ones(sources.size, np.int32), (row, np.arange(sources.size))),
                            shape=(into.size, sources.size))
        incoming = gather @ self.counts[sources].reshape(sources.size, -1)
        self.counts[sources] = 0
        self.counts[into] += incoming.reshape(-1, 3, 256).astype(np.int32, copy=False)
        # a region that moved away but still receives others may be left in pieces; pieces stay
        inherited = targets[self.maybe_split[sources]]
        self.maybe_split[into[moved[into]]] = True
        self.maybe_split[inherited] = True

    def histograms(self, ids: np.ndarray) -> np.ndarray:
        """The original's normalised 75-bin colour histograms of ``ids``: ``float64 (k, 75)``."""
        return normalised(histograms_from_counts(self.counts[ids]), self.area[ids])


# ------------------------------------------------------------------------------------ border data
def _border_contacts(labels: np.ndarray, small_pixels: np.ndarray, is_small: np.ndarray,
                     shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every small region: the owners of its border pixels and how many border pixels each
    owns. A border pixel is a 4-neighbour of the region outside it, counted once per region.

    Returns ``(region, owner, count)`` sorted by region then owner; owner 0 (line) left out.
    """
    h, w = shape
    # 1-pixel frame of -1 around the label map, so that neighbours never leave the array
    framed = np.full((h + 2, w + 2), -1, np.int64)
    framed[1:-1, 1:-1] = labels.reshape(h, w)
    framed = framed.ravel()
    steps = (-1, 1, -(w + 2), w + 2)
    y, x = np.divmod(small_pixels, w)
    inside = (y + 1) * (w + 2) + x + 1
    touched = np.zeros(framed.size, bool)
    for step in steps:
        touched[inside + step] = True
    q = np.flatnonzero(touched)
    owner = framed[q]
    keep = owner > 0  # neither line (0) nor outside (-1)
    q, owner = q[keep], owner[keep]
    seen = []
    regions, owners = [], []
    for step in steps:
        r = framed[q + step]
        new = (r > 0) & (r != owner)
        new[new] = is_small[r[new]]
        for earlier in seen:
            new &= r != earlier
        seen.append(r)
        regions.append(r[new])
        owners.append(owner[new])
    region = np.concatenate(regions)
    owner = np.concatenate(owners)
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
    starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    heads = a[starts]
    while True:
        proposed = np.maximum.reduceat(level[o], starts) + 1
        grow = proposed > level[heads]
        if not grow.any():
            return level
        level[heads[grow]] = proposed[grow]


def _approx_is_point(labels_2d: np.ndarray, pixels: np.ndarray) -> bool:
    """Whether approxPolyDP of the region's first external contour has one vertex, computed the
    original's way (on the bounding box grown by 2 px). ``pixels``: flat indices of the region."""
    h, w = labels_2d.shape
    ys, xs = np.divmod(pixels, w)
    y0, y1 = max(ys.min() - 2, 0), min(ys.max() + 3, h)
    x0, x1 = max(xs.min() - 2, 0), min(xs.max() + 3, w)
    crop = np.zeros((y1 - y0, x1 - x0), np.uint8)
    crop[ys - y0, xs - x0] = 255
    contours, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    first = contours[0]
    return len(cv2.approxPolyDP(first, APPROX_EPSILON * cv2.arcLength(first, True), True)) == 1


# ------------------------------------------------------------------------------------------ rules
def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a sorted array."""
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


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


# ------------------------------------------------------------------------------------------- pass
def _merge_pass(labels: np.ndarray, small_pixels: np.ndarray, regions: _Regions,
                shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the small regions. Returns the new label of every id (identity for ids
    that stay) and the small regions' pixels (flat indices)."""
    n_ids = regions.n_ids
    area = regions.area
    is_small = (area > 0) & (area < SMALL_REGION)
    is_small[0] = False
    small_pixels = small_pixels[is_small[labels[small_pixels]]]
    new_label = np.arange(n_ids)
    if small_pixels.size == 0:
        return new_label, small_pixels

    g_region, g_owner, g_count = _border_contacts(labels, small_pixels, is_small, shape)
    level = _levels(g_region, g_owner, is_small)
    visit = np.flatnonzero(is_small)
    visit_level = level[visit]
    pair_level = level[g_region]
    hist = np.zeros((n_ids, 3 * BINS))
    have_hist = np.zeros(n_ids, bool)

    point_like = np.zeros(n_ids, bool)
    split = visit[regions.maybe_split[visit] & (area[visit] > 1)]
    if split.size:
        pixel_label = labels[small_pixels]
        labels_2d = labels.reshape(shape)
        for r in split:
            point_like[r] = _approx_is_point(labels_2d, small_pixels[pixel_label == r])

    for lv in range(int(visit_level.max()) + 1):
        todo = visit[visit_level == lv]
        sel = pair_level == lv
        a, live, c = g_region[sel], new_label[g_owner[sel]], g_count[sel]
        keep = live != 0
        a, live, c = a[keep], live[keep], c[keep]
        key, inverse = np.unique(a * n_ids + live, return_inverse=True)
        ga, gl = key // n_ids, key % n_ids
        gc = np.bincount(inverse, weights=c, minlength=key.size).astype(np.int64)
        # histogram intersections, needed only where there is a choice (with one neighbour label
        # the similarity rules cannot fire: they need area < 250, which merges anyway)
        at = np.searchsorted(todo, ga)
        multi = np.bincount(at, minlength=todo.size)[at] > 1
        need = np.unique(np.concatenate([ga[multi], gl[multi]]))
        need = need[~have_hist[need]]
        if need.size:
            hist[need] = regions.histograms(need)
            have_hist[need] = True
        score = np.full(ga.size, -1.0)
        if multi.any():
            score[multi] = np.minimum(hist[ga[multi]], hist[gl[multi]]).sum(axis=1)
        new_label[todo] = _decide(todo, area[todo], point_like[todo], ga, gl, gc, score)
    return new_label, small_pixels


def merge_small_regions(fill_map: np.ndarray, image_bgr: np.ndarray,
                        max_passes: int = MAX_MERGE_PASSES) -> np.ndarray:
    """The original's ``my_merge_fill``.

    Args:
        fill_map: ``int (H, W)`` region ids, 0 = line.
        image_bgr: ``uint8 (H, W, 3)`` frame in BGR order (the channel order matters: it fixes
            the order in which the 75 histogram bins are summed).
        max_passes: at most this many passes.

    Returns:
        ``int32 (H, W)``: merged ids (a subset of the input ids, plus 0).
    """
    shape = fill_map.shape
    labels = np.ascontiguousarray(fill_map, dtype=np.int32).ravel().copy()
    regions = _Regions(labels, image_bgr.reshape(-1, 3))
    small_pixels = np.arange(labels.size)
    for _ in range(max_passes):
        ids_before = np.count_nonzero(regions.area)
        new_label, small_pixels = _merge_pass(labels, small_pixels, regions, shape)
        moved = np.flatnonzero(new_label != np.arange(regions.n_ids))
        if moved.size:
            labels[small_pixels] = new_label[labels[small_pixels]]
            regions.move(moved, new_label[moved])
        if np.count_nonzero(regions.area) == ids_before:
            break
    return labels.reshape(shape)
