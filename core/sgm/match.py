"""Match segments between two frames (SGM step 2, ARCHITECTURE.md §5.4).

Each segment gets a feature vector (VGG-19 features averaged over the segment, or a weight-free
colour + shape descriptor), normalised to a non-negative vector summing to 1. The affinity of two
segments is the histogram intersection of their vectors minus a size and a distance penalty,
with the original code's thresholds. Two segments match when each is the other's best partner
(mutual rank sum 0).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import torch

from ..concurrency import run_pair
from ..errors import InputError
from .stats import SegmentStats, segment_stats
from ..features.vgg19 import SGM_LAYERS, VGGFeatures, imagenet_normalise

SIZE_RATIO_LIMIT = 3.0
"""Size penalty applies when max(n_i/n_j, n_j/n_i) exceeds this (code: ``sizeDiff > 3``)."""
SIZE_PENALTY_DIVISOR = 20.0
"""Penalty = ratio / 20."""
DISTANCE_LIMIT = 0.14
"""Distance penalty applies when the centroid distance exceeds 14% of the image diagonal (the
thesis text says 15%; the code uses 0.14, ARCHITECTURE.md §10.5)."""
DISTANCE_PENALTY_DIVISOR = 5.0
"""Penalty = distance / 5 (distance as a fraction of the diagonal)."""

FeatureKind = Literal["vgg", "colour"]


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

    def reversed(self) -> "Matches":
        """The same matches seen from frame 3."""
        return Matches(self.affinity.t(), self.rank_sum_31, self.match_31, self.rank_sum_13,
                       self.match_13, self.stats3, self.stats1)


# --------------------------------------------------------------------------- features
def pool_by_label(features: torch.Tensor, labels: torch.Tensor, num_labels: int) -> torch.Tensor:
    """Mean of each feature channel over each label (``scatter_mean``; absent labels give 0).

    Args:
        features: ``(C, h, w)`` float.
        labels: ``(h, w)`` int64 in ``0..num_labels-1``.
    Returns:
        ``(C, num_labels)``.
    """
    c = features.shape[0]
    flat = labels.reshape(-1)
    # rows of C channels, one per pixel: free when ``features`` is channels-last (as the VGG's
    # output), and index_add_ over whole rows is ~2x faster than a per-channel scatter. Each
    # channel is still summed in pixel order, so the sums equal scatter_add_'s bit for bit.
    rows = features.permute(1, 2, 0).reshape(-1, c)
    sums = features.new_zeros(num_labels, c).index_add_(0, flat, rows)
    counts = torch.bincount(flat, minlength=num_labels).to(features.dtype).clamp_(min=1)
    return (sums / counts[:, None]).t()


def _subsample_labels(labels: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Label maps for VGG levels x1, x2, x4...: each is the previous one's ``[1::2, 1::2]``."""
    out = [labels]
    for _ in range(levels - 1):
        out.append(out[-1][1::2, 1::2])
    return out


@torch.inference_mode()
def vgg_features(vgg: VGGFeatures, frame: np.ndarray, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """relu1_1, relu2_1, relu3_1, relu4_1 of one frame, ``(1, C, h, w)`` each (channels-last memory).

    Input preparation as the original: RGB/255 in float64, then float32, ImageNet normalisation.
    """
    rgb = torch.from_numpy(frame.astype(np.float64) / 255.0).permute(2, 0, 1)[None].float().to(device)
    vgg = vgg.to(device)
    # channels_last: oneDNN's fast convolution layout on CPU (about 1.8x here), same numbers to ~1e-6
    x = imagenet_normalise(rgb).contiguous(memory_format=torch.channels_last)
    return list(vgg(x, SGM_LAYERS))


@torch.inference_mode()
def pool_features(feats: list[torch.Tensor], labels: np.ndarray, num_labels: int) -> torch.Tensor:
    """Per-segment means of each VGG level (label map subsampled ``[1::2, 1::2]`` per level):
    ``(960, L)``."""
    lab = _subsample_labels(torch.from_numpy(labels).long().to(feats[0].device), len(feats))
    pooled = []
    for level, level_labels in zip(feats, lab):
        if level.shape[-2:] != level_labels.shape:
            raise InputError(f"internal: VGG level {tuple(level.shape)} does not fit labels {tuple(level_labels.shape)}")
        pooled.append(pool_by_label(level[0], level_labels, num_labels))
    return torch.cat(pooled, 0)


def vgg_segment_features(
    vgg: VGGFeatures, frame: np.ndarray, labels: np.ndarray, num_labels: int,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Per-segment means of relu1_1, relu2_1, relu3_1, relu4_1: ``(960, L)`` float32 on ``device``.

    Args:
        frame: ``uint8`` RGB ``(H, W, 3)``.
        labels: ``int32 (H, W)``.
    """
    return pool_features(vgg_features(vgg, frame, device), labels, num_labels)


COLOUR_BINS = 16
SHAPE_BINS = 8


def colour_shape_features(frame: np.ndarray, labels: np.ndarray, num_labels: int) -> torch.Tensor:
    """Weight-free segment descriptor: ``(3 * 16 + 8, L)`` float32.

    * colour: per RGB channel a 16-bin histogram over [0, 255] of the segment's pixels,
      normalised to sum 1 per channel;
    * shape: an 8-bin histogram of pixel distances from the centroid in units of
      ``sqrt(area)`` (translation and rotation invariant), normalised to sum 1.

    Like the VGG features, these are non-negative, so histogram intersection applies.
    """
    h, w = labels.shape
    flat = labels.reshape(-1).astype(np.int64)
    counts = np.bincount(flat, minlength=num_labels).astype(np.float64)
    safe = np.maximum(counts, 1)
    blocks = []
    for ch in range(3):
        b = frame[:, :, ch].reshape(-1).astype(np.int64) * COLOUR_BINS // 256
        hist = np.bincount(flat * COLOUR_BINS + b, minlength=num_labels * COLOUR_BINS)
        blocks.append(hist.reshape(num_labels, COLOUR_BINS) / safe[:, None])
    ys, xs = np.divmod(np.arange(h * w), w)
    cx = np.bincount(flat, weights=xs, minlength=num_labels) / safe
    cy = np.bincount(flat, weights=ys, minlength=num_labels) / safe
    r = np.hypot(xs - cx[flat], ys - cy[flat]) / np.sqrt(safe[flat])
    rb = np.minimum((r / 0.8 * SHAPE_BINS).astype(np.int64), SHAPE_BINS - 1)
    shape = np.bincount(flat * SHAPE_BINS + rb, minlength=num_labels * SHAPE_BINS)
    blocks.append(shape.reshape(num_labels, SHAPE_BINS) / safe[:, None])
    return torch.from_numpy(np.concatenate(blocks, 1).T.astype(np.float32)).contiguous()


def normalise_features(pooled: torch.Tensor) -> torch.Tensor:
    """Per segment (column): subtract the minimum over channels, divide by the sum.

    A segment whose features are all equal gets a uniform vector instead of the original's 0/0.
    """
    shifted = pooled - pooled.min(dim=0).values
    total = shifted.sum(dim=0)
    flat = total <= 0
    if bool(flat.any()):
        shifted[:, flat] = 1.0
        total = torch.where(flat, torch.full_like(total, pooled.shape[0]), total)
    return shifted / total


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
FeatureFn = Callable[[np.ndarray, np.ndarray, int], torch.Tensor]
"""``(frame uint8 RGB (H, W, 3), labels int32 (H, W), L) -> (C, L)`` non-negative descriptors."""


@dataclass(frozen=True)
class SegmentDescriptors:
    """One frame's segments, ready to be matched against another frame's.

    Attributes:
        stats: per-segment statistics of the label map.
        features: ``float32 (C, L)`` descriptors, each column non-negative and summing to 1.
    """

    stats: SegmentStats
    features: torch.Tensor


def feature_function(features: FeatureKind = "vgg", vgg: VGGFeatures | None = None,
                     device: torch.device | str = "cpu") -> FeatureFn:
    """The descriptor of a feature kind: an ImageNet VGG (needs ``vgg``: VGG-19, the original's, or
    VGG-16, see ``core.features.networks``) or the weight-free colour/shape one."""
    if features == "vgg":
        if vgg is None:
            raise InputError("VGG features need a VGG-19 or VGG-16 network (or use features='colour')")
        return lambda frame, labels, n: vgg_segment_features(vgg, frame, labels, n, device)
    if features == "colour":
        return colour_shape_features
    raise InputError(f"unknown feature kind {features!r}; use 'vgg' or 'colour'")


def describe_segments(frame: np.ndarray, labels: np.ndarray, feature_fn: FeatureFn) -> SegmentDescriptors:
    """Statistics and normalised descriptors of one frame's segments.

    Args:
        frame: ``uint8`` RGB ``(H, W, 3)``.
        labels: ``int32 (H, W)`` label map ``0..L-1`` of that frame.
    """
    if labels.shape != frame.shape[:2]:
        raise InputError(f"frame {frame.shape} and label map {labels.shape} must agree")
    stats = segment_stats(labels)
    return SegmentDescriptors(stats, normalise_features(feature_fn(frame, stats.labels, stats.num_labels).float()))


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
