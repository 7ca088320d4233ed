"""Segment-guided matching (SGM): segment both frames, match the segments, build coarse flows.

This is the orchestration of ``segment`` -> ``match`` -> ``coarse_flow`` for one frame pair,
including the choice of the working size (the original always resized to 960x540).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal, Union

import cv2
import numpy as np
import torch

from .coarse_flow import CoarseFlow, coarse_flow
from .concurrency import run_pair
from .errors import InputError
from .images import ArrayLike, rgb_pair
from .match import FeatureKind, Matches, match_segments
from .segment import PRESETS, segment_frame
from .vgg import VGG19Features

COMPAT_SIZE = (960, 540)
"""The working size of the original SGM script (width, height)."""

WorkingSize = Union[tuple[int, int], None, Literal["auto"]]


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
    """

    preset: str = "japan"
    features: FeatureKind = "vgg"
    working_size: WorkingSize = "auto"
    rank_sum_threshold: int = 0

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.features not in ("vgg", "colour"):
            raise InputError(f"unknown features {self.features!r}; use 'vgg' or 'colour'")
        ws = self.working_size
        if ws not in (None, "auto") and not (
            isinstance(ws, tuple) and len(ws) == 2 and all(isinstance(v, int) and v >= 8 for v in ws)
        ):
            raise InputError(f"working_size must be None, 'auto' or (width, height) >= 8; got {ws!r}")


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
        return max(8, int(round(height * s))), max(8, int(round(width * s)))
    w, h = working_size
    return h, w


def run_sgm(
    frame1: ArrayLike,
    frame3: ArrayLike,
    options: SGMOptions = SGMOptions(),
    vgg: VGG19Features | None = None,
    device: torch.device | str = "cpu",
) -> SGMResult:
    """Segment, match and compute coarse flows for one pair of frames.

    Args:
        frame1, frame3: frames in any accepted layout (see :mod:`core.images`), same size.
        options: see :class:`SGMOptions`.
        vgg: VGG-19 features network, required when ``options.features == "vgg"``.
        device: where the VGG forward runs.
    """
    a, b = rgb_pair(frame1, frame3)
    h, w = a.shape[:2]
    wh, ww = working_size_for(h, w, options.working_size)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if (wh, ww) != (h, w):
        a = cv2.resize(a, (ww, wh))
        b = cv2.resize(b, (ww, wh))
    t1 = time.perf_counter()
    timings["resize"] = t1 - t0
    labels1, labels3 = run_pair(lambda frame: segment_frame(frame, options.preset), a, b)
    t2 = time.perf_counter()
    timings["segment"] = t2 - t1
    matches = match_segments(a, b, labels1, labels3, features=options.features, vgg=vgg, device=device)
    t3 = time.perf_counter()
    timings["match"] = t3 - t2
    flow = coarse_flow(a, b, matches, options.rank_sum_threshold)
    timings["coarse_flow"] = time.perf_counter() - t3
    return SGMResult(a, b, labels1, labels3, matches, flow, (h, w), timings)
