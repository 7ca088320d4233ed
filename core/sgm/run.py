"""Segment-guided matching (SGM): segment both frames, match the segments, build coarse flows.

This is the orchestration of ``segment`` -> ``match`` -> ``coarse_flow`` for one frame pair,
including the choice of the working size (the original always resized to 960x540). The work
splits in a per-frame half (:func:`describe_frame`: resize, segment, per-segment descriptors),
done for both frames at once on two threads and memoisable across the pairs of a clip, and a
per-pair half (matching and the coarse flows).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch

from ..clip.frame_memo import FrameMemo
from ..concurrency import run_pair
from ..errors import InputError
from ..features.vgg19 import VGG19Features
from ..io.images import ArrayLike, rgb_pair
from ..progress import checkpoint
from .coarse_flow import CoarseFlow, DisSettings, check_dis_settings, coarse_flow
from .describe import FeatureFn, FeatureKind, SegmentDescriptors, describe_segments, feature_function
from .match import Matches, match_descriptors
from .segment import PRESETS, segment_frame

COMPAT_SIZE = (960, 540)
"""The working size of the original SGM script (width, height)."""

WorkingSize = tuple[int, int] | Literal["auto"] | None


@dataclass(frozen=True)
class SGMOptions:
    """How to run SGM.

    Attributes:
        preset: line-extraction parameter set, ``"japan"`` or ``"disney"`` (the original picked one
            by whether the ATD-12K folder name contained "Japan").
        features: ``"vgg"`` (VGG-19, the published method) or ``"colour"`` (weight-free).
        working_size: ``(W, H)`` resizes both frames to exactly that size with ``cv2.resize``
            (bilinear) like the original at ``(960, 540)``; ``None`` works at the input size;
            ``"auto"`` works at the input size up to 960x540 pixels and downscales larger frames
            (keeping the aspect ratio) to about that many pixels, for which the SGM thresholds
            were tuned.
        rank_sum_threshold: largest mutual rank sum accepted as a match (0 = mutual best).
        coarse_flow_dis: DIS settings of the coarse flows (``core.sgm.coarse_flow.make_dis``):
            ``"original"`` (the flows the checkpoints were trained on), ``"fast"``, or None:
            ``"original"``, except in a weight-free ``Interpolator``, which picks ``"fast"``.
    """

    preset: str = "japan"
    features: FeatureKind = "vgg"
    working_size: WorkingSize = "auto"
    rank_sum_threshold: int = 0
    coarse_flow_dis: DisSettings | None = None

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.features not in ("vgg", "colour"):
            raise InputError(f"unknown features {self.features!r}; use 'vgg' or 'colour'")
        if self.coarse_flow_dis is not None:
            check_dis_settings(self.coarse_flow_dis)
        ws = self.working_size
        if ws not in (None, "auto") and not (
            isinstance(ws, tuple) and len(ws) == 2 and all(isinstance(v, int) and v >= 8 for v in ws)
        ):
            raise InputError(f"working_size must be None, 'auto' or (width, height) >= 8; got {ws!r}")

    @property
    def dis_settings(self) -> DisSettings:
        """The coarse-flow DIS settings in force: ``coarse_flow_dis``, by default ``"original"``."""
        return self.coarse_flow_dis or "original"


DEFAULT_SGM_OPTIONS = SGMOptions()
"""The defaults (SGMOptions is frozen, so one instance serves every default argument)."""


@dataclass
class SGMResult:
    """Everything SGM computed for one pair, at the working size.

    ``flow`` is at the working size; use :meth:`flow_at` for the frame size.
    """

    frame1: np.ndarray
    frame3: np.ndarray
    labels1: np.ndarray
    labels3: np.ndarray
    matches: Matches
    flow: CoarseFlow
    input_size: tuple[int, int]  # (H, W) of the frames given to run_sgm
    timings: dict[str, float] = field(default_factory=dict)

    def flow_at(self, height: int | None = None, width: int | None = None) -> CoarseFlow:
        """Coarse flows nearest-resized (and vectors rescaled) to ``(height, width)``, by default the
        input size, the way the original data loader resized SGM flows."""
        h, w = self.input_size if height is None else (height, width)
        return self.flow.resized(h, w)


def working_size_for(height: int, width: int, working_size: WorkingSize) -> tuple[int, int]:
    """``(H, W)`` at which SGM runs for a frame of ``height x width``."""
    if working_size is None:
        return height, width
    if working_size == "auto":
        budget = COMPAT_SIZE[0] * COMPAT_SIZE[1]
        if height * width <= budget:
            return height, width
        s = (budget / (height * width)) ** 0.5
        return max(8, round(height * s)), max(8, round(width * s))
    w, h = working_size
    return h, w


@dataclass(frozen=True)
class DescribedFrame:
    """The per-frame half of SGM, which does not depend on the other frame.

    Attributes:
        frame: ``uint8`` RGB ``(h, w, 3)`` at the working size.
        labels: ``int32 (h, w)`` label map.
        descriptors: segment statistics and normalised features for matching.
    """

    frame: np.ndarray
    labels: np.ndarray
    descriptors: SegmentDescriptors


def to_working_size(frame: np.ndarray, working_size: WorkingSize) -> np.ndarray:
    """``frame`` resized (``cv2.resize``, bilinear) to the SGM working size; itself if it fits."""
    h, w = frame.shape[:2]
    wh, ww = working_size_for(h, w, working_size)
    return frame if (wh, ww) == (h, w) else cv2.resize(frame, (ww, wh))


def describe_frame(frame: np.ndarray, options: SGMOptions, feature_fn: FeatureFn) -> DescribedFrame:
    """Resize ``frame`` (``uint8`` RGB) to the working size, segment it and describe its segments."""
    frame = to_working_size(frame, options.working_size)
    labels = segment_frame(frame, options.preset)
    return DescribedFrame(frame, labels, describe_segments(frame, labels, feature_fn))


def run_sgm(
    frame1: ArrayLike,
    frame3: ArrayLike,
    options: SGMOptions = SGMOptions(),
    vgg: VGG19Features | None = None,
    device: torch.device | str = "cpu",
    memo: FrameMemo | None = None,
) -> SGMResult:
    """Segment, match and compute coarse flows for one pair of frames.

    Args:
        frame1, frame3: frames in any accepted layout (see :mod:`core.io.images`), same size.
        options: see :class:`SGMOptions`.
        vgg: VGG-19 features network, required when ``options.features == "vgg"``.
        device: where the VGG forward runs.
        memo: remembers the per-frame half (:func:`describe_frame`) of recent frames, so that a
            clip walked pair by pair segments and describes each frame once.
    """
    a, b = rgb_pair(frame1, frame3)
    feature_fn = feature_function(options.features, vgg, device)
    context = (options, id(vgg), str(device))

    def describe(frame: np.ndarray) -> DescribedFrame:
        if memo is None:
            return describe_frame(frame, options, feature_fn)
        return memo.get(frame, context, lambda: describe_frame(frame, options, feature_fn))

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    d1, d3 = run_pair(describe, a, b)
    t1 = time.perf_counter()
    timings["describe"] = t1 - t0
    checkpoint("segment", 1, 1, lambda: _preview().segments_pair(d1.labels, d3.labels))
    matches = match_descriptors(d1.descriptors, d3.descriptors)
    t2 = time.perf_counter()
    timings["match"] = t2 - t1
    checkpoint("match", 1, 1, lambda: np.hstack(_preview().matches_preview(matches)))
    flow = coarse_flow(d1.frame, d3.frame, matches, options.rank_sum_threshold, options.dis_settings)
    timings["coarse_flow"] = time.perf_counter() - t2
    checkpoint("coarse flow", 1, 1, lambda: _preview().flow_pair_preview(flow.flow_13, flow.flow_31,
                                                                         flow.valid_13, flow.valid_31))
    return SGMResult(d1.frame, d3.frame, d1.labels, d3.labels, matches, flow, a.shape[:2], timings)


def _preview():
    from .. import preview  # imported on demand: core.preview imports this package

    return preview
