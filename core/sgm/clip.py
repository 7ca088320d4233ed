"""SGM over a clip: the per-stage results for every frame and every consecutive pair.

These are the values the per-stage ComfyUI nodes pass along (SEGMENTS -> MATCHES -> FLOW). Each
function takes an optional ``step`` callback, called once per frame or pair, where the caller
reports progress and may raise to cancel.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..concurrency import map_threaded, run_pair
from ..errors import InputError
from ..features.vgg19 import VGG19Features
from ..io.images import check_same_size, to_rgb_uint8
from ..weightfree.refine import PairFlows
from .coarse_flow import CoarseFlow, DisSettings, coarse_flow
from .describe import FeatureKind, SegmentDescriptors, describe_segments, feature_function
from .match import Matches, match_descriptors
from .run import DEFAULT_SGM_OPTIONS, SGMOptions, to_working_size
from .segment import segment_frame

Step = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    pass


@dataclass
class SegmentedClip:
    """Label maps of every frame at the SGM working size.

    Attributes:
        frames: ``uint8`` RGB frames at the working size.
        labels: ``int32 (h, w)`` label maps.
        input_size: ``(H, W)`` of the frames given.
        options: the SGM options used.
    """

    frames: list[np.ndarray]
    labels: list[np.ndarray]
    input_size: tuple[int, int]
    options: SGMOptions

    @property
    def working_size(self) -> tuple[int, int]:
        return self.labels[0].shape[0], self.labels[0].shape[1]


@dataclass
class MatchedClip:
    """Matches of every consecutive pair ``(k, k + 1)``."""

    segments: SegmentedClip
    matches: list[Matches]


@dataclass
class ClipFlows:
    """Flows of every consecutive pair at the input frame size.

    Attributes:
        pairs: one :class:`PairFlows` per pair ``(k, k + 1)`` (``flow_13`` = k -> k+1).
        valid: per pair ``(valid_13, valid_31)`` bool masks, or None where every pixel is valid.
        kind: ``"coarse"`` (SGM) or ``"refined"``.
        labels: per pair ``(labels_k, labels_k+1)``, SGM's ``int32 (h, w)`` label maps of both frames
            at the working size (the weight-free refiner chooses one flow per drawn piece with
            them), or None where there are none; empty when no pair has them.
    """

    pairs: list[PairFlows]
    valid: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)
    kind: str = "coarse"
    labels: list[tuple[np.ndarray, np.ndarray] | None] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.pairs[0].size


def segment_clip(frames: Sequence[np.ndarray], options: SGMOptions = DEFAULT_SGM_OPTIONS, step: Step = _noop
                 ) -> SegmentedClip:
    """Segment every frame (at the SGM working size)."""
    if len(frames) == 0:
        raise InputError("no frames to segment")
    rgb = [to_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
    h, w = check_same_size(rgb)
    rgb = [to_working_size(f, options.working_size) for f in rgb]
    labels = []
    for i, lab in enumerate(map_threaded(lambda frame: segment_frame(frame, options.preset), rgb)):
        labels.append(lab)
        step(i + 1, len(rgb))
    return SegmentedClip(rgb, labels, (h, w), options)


def match_clip(segments: SegmentedClip, features: FeatureKind = "vgg", vgg: VGG19Features | None = None,
               device: str = "cpu", step: Step = _noop) -> MatchedClip:
    """Match the segments of every consecutive pair (each frame described once, not twice)."""
    n = len(segments.frames)
    if n < 2:
        raise InputError("matching needs at least two frames (one pair); got 1")
    feature_fn = feature_function(features, vgg, device)

    def describe(k: int) -> SegmentDescriptors:
        return describe_segments(segments.frames[k], segments.labels[k], feature_fn)

    out = []
    previous, current = run_pair(describe, 0, 1)
    for k in range(n - 1):
        if k > 0:
            previous, current = current, describe(k + 1)
        out.append(match_descriptors(previous, current))
        step(k + 1, n - 1)
    return MatchedClip(segments, out)


def coarse_flow_clip(matched: MatchedClip, step: Step = _noop, dis: DisSettings | None = None) -> ClipFlows:
    """Coarse flows (both directions) of every pair, resized to the input frame size.

    ``dis`` overrides the DIS settings of the clip's SGM options (``core.sgm.coarse_flow.make_dis``).
    """
    seg = matched.segments
    dis = dis or seg.options.dis_settings
    h, w = seg.input_size
    pairs, valid, labels = [], [], []
    for k, m in enumerate(matched.matches):
        cf: CoarseFlow = coarse_flow(seg.frames[k], seg.frames[k + 1], m, seg.options.rank_sum_threshold, dis)
        cf = cf.resized(h, w)
        pairs.append(PairFlows(cf.flow_13.astype(np.float32), cf.flow_31.astype(np.float32), "coarse"))
        valid.append((cf.valid_13, cf.valid_31))
        labels.append((seg.labels[k], seg.labels[k + 1]))
        step(k + 1, len(matched.matches))
    return ClipFlows(pairs, valid, "coarse", labels)
