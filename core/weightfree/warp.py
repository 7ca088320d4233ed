"""Backward warping of whole frames with OpenCV (the weight-free synthesis' sampling)."""
from __future__ import annotations

import cv2
import numpy as np


def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel coordinates ``(xs, ys)``, ``float32 (H, W)`` each, that :func:`warp` offsets."""
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def warp(image: np.ndarray, flow: np.ndarray, scale: float, grid: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``image (H, W, C)`` sampled at ``x + scale·flow(x)`` (bilinear, border replicated)."""
    xs, ys = grid
    map_x = (xs + np.float32(scale) * flow[0]).astype(np.float32, copy=False)
    map_y = (ys + np.float32(scale) * flow[1]).astype(np.float32, copy=False)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def warp_both(frame1: np.ndarray, frame3: np.ndarray, motion: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
    """Both frames backward-warped to time t along ``motion`` (frame 1 -> frame 3 at t, ``(2, H, W)``):
    ``frame1(x - t·m(x))`` and ``frame3(x + (1 - t)·m(x))``, ``float32 (H, W, 3)`` each."""
    grid = pixel_grid(*frame1.shape[:2])
    return warp(frame1, motion, -t, grid), warp(frame3, motion, 1.0 - t, grid)
