"""Bilinear summation splatting of one small array, in NumPy.

Same semantics as :func:`core.splat.splat_average` (weights from the flow's fractional part,
targets outside dropped, normalised where the weight sum is > 0). Used inside per-segment loops
that alternate with OpenCV calls, where dispatching many tiny torch ops costs more than the work.
"""
from __future__ import annotations

import numpy as np


def splat_average_numpy(values: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """:func:`splat_average` for one small ``(H, W)`` float array and an OpenCV-layout flow
    ``(H, W, 2)`` (x, y), in NumPy; returns ``float32 (H, W)``."""
    h, w = values.shape
    fx = flow[..., 0].astype(np.float32)
    fy = flow[..., 1].astype(np.float32)
    x0, y0 = np.floor(fx), np.floor(fy)
    ax, ay = fx - x0, fy - y0
    bx, by = (x0 + 1) - fx, (y0 + 1) - fy
    tx0 = x0.astype(np.int64) + np.arange(w)[None, :]
    ty0 = y0.astype(np.int64) + np.arange(h)[:, None]
    v = values.astype(np.float32)
    summed = np.zeros(h * w, np.float64)
    weight = np.zeros(h * w, np.float64)
    for dx, dy, wgt in ((0, 0, bx * by), (0, 1, bx * ay), (1, 0, ax * by), (1, 1, ax * ay)):
        tx, ty = tx0 + dx, ty0 + dy
        inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
        idx = (ty * w + tx)[inside]
        weight += np.bincount(idx, weights=wgt[inside], minlength=h * w)
        summed += np.bincount(idx, weights=(v * wgt)[inside], minlength=h * w)
    out = np.zeros(h * w, np.float32)
    covered = weight > 0
    out[covered] = (summed[covered] / weight[covered]).astype(np.float32)
    return out.reshape(h, w)
