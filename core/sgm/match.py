"""Match the segments of two described frames (SGM step 2b, ARCHITECTURE.md §5.4).

The affinity of two segments is the histogram intersection of their descriptors (``describe``)
minus a size and a distance penalty, with the original code's thresholds. Two segments match
when each is the other's best partner (mutual rank sum 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..concurrency import run_pair
from ..errors import InputError
from ..features.vgg19 import VGGFeatures
from .describe import FeatureFn, FeatureKind, SegmentDescriptors, describe_segments, feature_function
from .stats import SegmentStats

SIZE_RATIO_LIMIT = 3.0
"""Size penalty applies when max(n_i/n_j, n_j/n_i) exceeds this (code: ``sizeDiff > 3``)."""
SIZE_PENALTY_DIVISOR = 20.0
"""Penalty = ratio / 20."""
DISTANCE_LIMIT = 0.14
"""Distance penalty applies when the centroid distance exceeds 14% of the image diagonal (the
thesis text says 15%; the code uses 0.14, ARCHITECTURE.md §10.5)."""
DISTANCE_PENALTY_DIVISOR = 5.0
"""Penalty = distance / 5 (distance as a fraction of the diagonal)."""


@dataclass(frozen=True)
class Matches:
    """Result of matching the segments of frame 1 (``L1``) and frame 3 (``L3``).

    Attributes:
        affinity: ``float32 (L1, L3)`` histogram intersection minus penalties (original ``corrMap``).
        rank_sum_13, match_13: ``int64 (L1,)`` mutual rank sum and best partner in frame 3 of
            each frame-1 segment; rank sum 0 means a mutual best match.
        rank_sum_31, match_31: ``int64 (L3,)`` the same from frame 3 to frame 1.
        stats1, stats3: per-segment statistics of both label maps.
    """

    affinity: torch.Tensor
    rank_sum_13: torch.Tensor
    match_13: torch.Tensor
    rank_sum_31: torch.Tensor
    match_31: torch.Tensor
    stats1: SegmentStats
    stats3: SegmentStats

    def mutual_pairs(self, rank_sum_threshold: int = 0) -> np.ndarray:
        """``int64 (K, 2)`` pairs ``(i, j)`` of mutually matched segments (frame 1, frame 3)."""
        i = torch.nonzero(self.rank_sum_13 <= rank_sum_threshold).flatten()
        return torch.stack([i, self.match_13[i]], 1).cpu().numpy().astype(np.int64)

    def reversed(self) -> Matches:
        """The same matches seen from frame 3."""
        return Matches(self.affinity.t(), self.rank_sum_31, self.match_31, self.rank_sum_13,
                       self.match_13, self.stats3, self.stats1)


# --------------------------------------------------------------------------- affinity
def histogram_intersection(p1: torch.Tensor, p3: torch.Tensor, rows_per_chunk: int = 1) -> torch.Tensor:
    """``A[i, j] = sum_c min(p1[c, i], p3[c, j])`` for ``p1 (C, L1)``, ``p3 (C, L3)`` -> ``(L1, L3)``.

    Computed in row chunks so the ``(chunk, L3, C)`` temporary stays in cache.
    """
    a = p1.t().contiguous()
    b = p3.t().contiguous()
    out = torch.empty(a.shape[0], b.shape[0], dtype=a.dtype, device=a.device)
    if a.device.type != "cpu":
        rows_per_chunk = max(1, int(2**26 // max(1, b.numel())))
    for s in range(0, a.shape[0], rows_per_chunk):
        out[s : s + rows_per_chunk] = torch.minimum(a[s : s + rows_per_chunk, None, :], b[None]).sum(-1)
    return out


def penalised_affinity(p1: torch.Tensor, p3: torch.Tensor, stats1: SegmentStats,
                       stats3: SegmentStats) -> torch.Tensor:
    """Histogram intersection minus the size and distance penalties (float32 like the original).

    Size: ``r = max(n_i/n_j, n_j/n_i)``; subtract ``r/20`` when ``r > 3``.
    Distance: ``d = |c_i - c_j| / diagonal``; subtract ``d/5`` when ``d > 0.14``.
    Penalties are evaluated in float64 and subtracted one after the other in float32.
    """
    aff = histogram_intersection(p1, p3)
    n1 = stats1.pixel_counts.astype(np.float64)[:, None]
    n3 = stats3.pixel_counts.astype(np.float64)[None, :]
    ratio = np.maximum(n1 / n3, n3 / n1)
    size_pen = np.where(ratio > SIZE_RATIO_LIMIT, ratio / SIZE_PENALTY_DIVISOR, 0.0)
    h, w = stats1.labels.shape
    diag = np.sqrt(float(h) * h + float(w) * w)
    dx = stats1.centroid_x[:, None] - stats3.centroid_x[None, :]
    dy = stats1.centroid_y[:, None] - stats3.centroid_y[None, :]
    dist = np.sqrt(dx * dx + dy * dy) / diag
    dist_pen = np.where(dist > DISTANCE_LIMIT, dist / DISTANCE_PENALTY_DIVISOR, 0.0)
    dev = aff.device
    aff = aff - torch.from_numpy(size_pen.astype(np.float32)).to(dev)
    aff = aff - torch.from_numpy(dist_pen.astype(np.float32)).to(dev)
    return aff


def mutual_matching(affinity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rank every column within its row and every row within its column (0 = best).

    Returns ``(rank_sum_13, match_13, rank_sum_31, match_31)``: for each segment the minimum of
    row rank + column rank over its candidates, and the candidate reaching it.
    """
    _, order_rows = affinity.sort(dim=1, descending=True)
    _, order_cols = affinity.sort(dim=0, descending=True)
    _, rank_in_row = order_rows.sort(dim=1)
    _, rank_in_col = order_cols.sort(dim=0)
    ranks = rank_in_row + rank_in_col
    rank_sum_13, match_13 = ranks.min(dim=1)
    rank_sum_31, match_31 = ranks.min(dim=0)
    return rank_sum_13, match_13, rank_sum_31, match_31


# --------------------------------------------------------------------------- entry points
def match_descriptors(d1: SegmentDescriptors, d3: SegmentDescriptors) -> Matches:
    """Penalised affinity and mutual matching of two described frames."""
    if d1.stats.labels.shape != d3.stats.labels.shape:
        raise InputError(f"label maps {d1.stats.labels.shape} and {d3.stats.labels.shape} must have one size")
    p1 = d1.features
    aff = penalised_affinity(p1, d3.features.to(p1.device), d1.stats, d3.stats).cpu()
    r13, m13, r31, m31 = mutual_matching(aff)
    return Matches(aff, r13, m13, r31, m31, d1.stats, d3.stats)


def match_segments(
    frame1: np.ndarray,
    frame3: np.ndarray,
    labels1: np.ndarray,
    labels3: np.ndarray,
    features: FeatureKind = "vgg",
    vgg: VGGFeatures | None = None,
    device: torch.device | str = "cpu",
    feature_fn: FeatureFn | None = None,
) -> Matches:
    """Match the segments of two frames (both frames described on two threads).

    Args:
        frame1, frame3: ``uint8`` RGB ``(H, W, 3)`` of the same size.
        labels1, labels3: ``int32 (H, W)`` label maps ``0..L-1`` (from ``segment_frame``).
        features: ``"vgg"`` (needs ``vgg``) or ``"colour"`` (weight-free).
        feature_fn: optional custom descriptor; overrides ``features``.
    """
    if frame1.shape != frame3.shape or labels1.shape != frame1.shape[:2] or labels3.shape != frame3.shape[:2]:
        raise InputError(
            f"frames {frame1.shape}/{frame3.shape} and label maps {labels1.shape}/{labels3.shape} must agree"
        )
    fn = feature_fn or feature_function(features, vgg, device)
    d1, d3 = run_pair(lambda frame_labels: describe_segments(*frame_labels, fn), (frame1, labels1), (frame3, labels3))
    return match_descriptors(d1, d3)
