"""Line extraction (the original ``dline_of`` + ``cv2.threshold``), ARCHITECTURE.md §5.2.

bilateral filter -> 5x5 Laplacian (float32) -> scale to a maximum of 255 -> 3-D hysteresis
(low, high) -> suppress everything outside it -> ``255 - 20 * max over channels``, clipped and
truncated to uint8 -> above 220 is a region (255), the rest is a line (0).

The last steps are monotone in the line strength ``v``, so "line" is simply ``v >= LINE_STRENGTH``
for a float32 constant found once by bisection over the original formula (so the result stays
bit-identical): a pixel is a line iff one of its channels passes the hysteresis with
``v >= LINE_STRENGTH``.

A frame whose Laplacian is 0 everywhere (a constant colour) has no lines: the original divides by
that zero maximum, the NaNs fail both thresholds and are suppressed, and so do they here (the
division warning is silenced).
"""
from __future__ import annotations

import cv2
import numpy as np

from .hysteresis import hysteresis_components
from .presets import LINE_SCALE, REGION_THRESHOLD, LinePreset, resolve_preset


def boundary_value(strength: np.ndarray) -> np.ndarray:
    """The original's boundary image for a float32 line strength: ``uint8(clip(255 - 20 v))``."""
    return np.clip(255 - np.asarray(strength, np.float32) * LINE_SCALE, 0, 255).astype(np.uint8)


def _smallest_line_strength() -> np.float32:
    """Smallest non-negative float32 ``v`` whose boundary value is a line (``<= 220``)."""
    lo, hi = 0, int(np.float32(255.0).view(np.int32))  # int views of non-negative floats are ordered
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if boundary_value(np.int32(mid).view(np.float32)) <= REGION_THRESHOLD:
            hi = mid
        else:
            lo = mid
    return np.int32(hi).view(np.float32)


LINE_STRENGTH = _smallest_line_strength()
"""A voxel that passes the hysteresis is a line iff its normalised Laplacian is ``>=`` this
(about 1.7)."""


def smooth(frame_bgr: np.ndarray, preset: LinePreset) -> np.ndarray:
    """Edge-preserving smoothing: ``cv2.bilateralFilter`` with the preset's ``(d, sigma_color,
    sigma_space)``. ``uint8 (H, W, 3)`` -> ``uint8 (H, W, 3)``."""
    d, sigma_color, sigma_space = preset.bilateral
    return cv2.bilateralFilter(frame_bgr, d, sigma_color, sigma_space)


def line_mask(smoothed: np.ndarray, preset: LinePreset) -> np.ndarray:
    """``bool (H, W)``, True on line pixels, from the smoothed ``uint8 (H, W, 3)`` frame."""
    # per channel: the same numbers as the original's one call on the 3-channel image
    planes = [cv2.Laplacian(channel, ddepth=cv2.CV_32F, ksize=5) for channel in cv2.split(smoothed)]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.float32(255.0) / np.float32(max(plane.max() for plane in planes))
        for plane in planes:
            plane *= scale  # the original's float32 product
    hysteresis = hysteresis_components(planes, preset.low, preset.high)
    lines = np.zeros(smoothed.shape[:2], bool).ravel()
    for k, plane in enumerate(planes):
        candidates = np.flatnonzero(plane >= LINE_STRENGTH)
        lines[candidates[hysteresis.passes(k, candidates)]] = True
    return lines.reshape(smoothed.shape[:2])


def extract_lines(frame_bgr: np.ndarray, preset: str | LinePreset) -> np.ndarray:
    """Binary line image of a ``uint8 (H, W, 3)`` BGR frame: ``uint8 (H, W)``, 255 = region,
    0 = line (the original's ``binMap``). ``preset``: a name or a :class:`LinePreset`."""
    preset = resolve_preset(preset)
    lines = line_mask(smooth(frame_bgr, preset), preset)
    return np.where(lines, np.uint8(0), np.uint8(255))
