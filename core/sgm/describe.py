"""Describe the segments of one frame (SGM step 2a, ARCHITECTURE.md §5.4).

Each segment gets a feature vector: VGG-19 ``relu1_1..relu4_1`` features averaged over the
segment (the original's descriptor), or a weight-free colour + shape histogram. Vectors are
normalised to be non-negative and sum to 1, ready for histogram intersection in ``match``.
This is the per-frame half of matching: along a clip each frame is described once.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..errors import InputError
from ..features.vgg19 import SGM_LAYERS, VGGFeatures, imagenet_normalise
from .stats import SegmentStats, segment_stats

FeatureKind = Literal["vgg", "colour"]

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
    with _ONE_VGG_AT_A_TIME:
        return pool_features(vgg_features(vgg, frame, device), labels, num_labels)


_ONE_VGG_AT_A_TIME = threading.Lock()
"""The two frames of a pair are described on two threads (:func:`..concurrency.run_pair`): their
segmentations overlap, but their VGG forwards take turns. Each forward already uses every torch
thread, and two at once held both frames' activations: the SGM of a real 960x540 pair peaked at
1.39 GB, taking turns at 1.08-1.17 GB in 3.9-4.0 s instead of 3.8 s (everything one frame after the
other: 0.90 GB in 4.5 s; ``ru_maxrss`` of ``bench_original.py``'s ours-sgm child, Intel Xeon)."""


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
