"""One frame -> label map, exactly as the original SGM script segmented it (ARCHITECTURE.md §5.2-5.3).

lines (bilateral + Laplacian + hysteresis) -> trapped-ball and flood fills -> small-region merge
-> thinning -> relabel by size. Each step is a separate module; this one validates the input and
chains them.
"""
from __future__ import annotations

from time import perf_counter

import numpy as np

from ...errors import InputError
from ...io.images import MIN_SIDE
from ...progress import checkpoint
from .fill_map import build_fill_map
from .lines import line_mask, smooth
from .merge import merge_small_regions
from .presets import LinePreset, resolve_preset
from .relabel import relabel_by_size
from .thinning import thin_lines


def _check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise InputError(f"segment_frame expects a NumPy array, got {type(frame).__name__}; "
                         "convert frames with core.io.images.to_rgb_uint8 first")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise InputError(f"segment_frame expects a uint8 RGB frame (H, W, 3), got {frame.dtype} "
                         f"{tuple(frame.shape)}; convert frames with core.io.images.to_rgb_uint8 first")
    h, w = frame.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"segment_frame: {w}x{h} is too small; each side must be at least "
                         f"{MIN_SIDE} px")


def segment_frame(frame: np.ndarray, preset: str | LinePreset = "japan",
                  timings: dict[str, float] | None = None) -> np.ndarray:
    """Segment one frame the way the original SGM script did, bit for bit.

    Args:
        frame: ``uint8 (H, W, 3)`` RGB, any size of at least 8x8 (no resizing happens here).
        preset: line-extraction parameters, ``"japan"`` or ``"disney"`` (see ``PRESETS``) or a
            :class:`LinePreset`.
        timings: optional dict that receives the seconds spent in each step (``bilateral``,
            ``lines``, ``trapped_ball_r3``/``r2``/``r1``, ``flood_fill``, ``merge``, ``thinning``,
            ``relabel``, ``total``).

    Returns:
        ``int32 (H, W)`` labels ``0..L-1`` ordered by ascending pixel count (the original's
        ``squeeze_label_map``). A frame without lines (for instance a constant colour) is one
        segment, label 0 everywhere.
    """
    _check_frame(frame)
    line_preset = resolve_preset(preset)
    times: dict[str, float] = {}
    start = t0 = perf_counter()

    def lap(name: str) -> None:
        nonlocal t0
        t1 = perf_counter()
        times[name] = t1 - t0
        t0 = t1
        checkpoint("segment")

    # The original worked on OpenCV's BGR order. The lines do not depend on it, but the merge
    # does: ties between neighbours' histogram intersections are broken by float rounding, which
    # depends on the order of the channel blocks (8 of 48 real frames differ in RGB order).
    bgr = np.ascontiguousarray(frame[:, :, ::-1])
    smoothed = smooth(bgr, line_preset)
    lap("bilateral")
    binary = np.where(line_mask(smoothed, line_preset), np.uint8(0), np.uint8(255))
    lap("lines")
    fill_map = build_fill_map(binary, times)
    t0 = perf_counter()
    merged = merge_small_regions(fill_map, bgr)
    lap("merge")
    thinned = thin_lines(merged)
    lap("thinning")
    labels = relabel_by_size(thinned)
    lap("relabel")
    times["total"] = perf_counter() - start
    if timings is not None:
        timings.update(times)
    return labels
