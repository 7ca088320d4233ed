"""Segment-guided matching (SGM): from two frames to coarse flows in both directions.

The stage in reading order (ARCHITECTURE.md §5)::

    segment/       frame -> label map of flat colour pieces (lines + trapped-ball filling)
    stats.py       label map -> per-segment sizes, centroids and boxes
    describe.py    frame + label map -> per-segment descriptors (VGG-19 or colour/shape)
    match.py       two described frames -> penalised affinity and mutual best matches
    coarse_flow.py matches -> per-segment shift + DIS deformation, both directions
    run.py         SGMOptions and run_sgm: the one call for a pair
    clip.py        the same along a clip, each frame segmented and described once

Public API::

    result = run_sgm(frame1, frame3, SGMOptions(features="colour"))
    result.flow.flow_13, result.flow.valid_13     # (2, H, W) px, (H, W) bool

(The coarse-flow function is ``core.sgm.coarse_flow.coarse_flow``; it is not re-exported here so
that ``core.sgm.coarse_flow`` stays the module.)
"""
from .coarse_flow import CoarseFlow
from .describe import FeatureKind, SegmentDescriptors, describe_segments, feature_function
from .match import Matches, match_descriptors, match_segments
from .run import COMPAT_SIZE, SGMOptions, SGMResult, run_sgm
from .segment import PRESETS, segment_frame
from .stats import SegmentStats, segment_stats

__all__ = [
    "COMPAT_SIZE",
    "PRESETS",
    "CoarseFlow",
    "FeatureKind",
    "Matches",
    "SGMOptions",
    "SGMResult",
    "SegmentDescriptors",
    "SegmentStats",
    "describe_segments",
    "feature_function",
    "match_descriptors",
    "match_segments",
    "run_sgm",
    "segment_frame",
    "segment_stats",
]
