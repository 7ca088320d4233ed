"""OpenCV's DIS optical flow on frames of any size.

OpenCV's DIS (5.0 and 5.1) raises below 12 px a side, and **crashes the process** (a segmentation
fault, which would take a ComfyUI server down with it) on frames less than 16 px high and 40 px or
more wide: its pyramid depth follows the longer side. :func:`dis_flow` pads both frames (and an
initial flow) by replicating their last row and column up to :data:`MIN_DIS_SIDE` px each way and
crops the flow back; frames at least that large go to DIS untouched.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_DIS_SIDE = 16
"""Smallest height and width given to DIS (every width up to 1600 px was probed safe at 16 rows)."""


def _padded(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    return cv2.copyMakeBorder(image, 0, rows, 0, cols, cv2.BORDER_REPLICATE) if rows or cols else image


def dis_flow(dis: cv2.DISOpticalFlow, src: np.ndarray, dst: np.ndarray, init: np.ndarray | None = None
             ) -> np.ndarray:
    """``dis.calc(src, dst, init)`` for grey ``uint8 (H, W)`` frames of any size >= 1 px.

    Args:
        dis: a DIS object (a fresh one per call where ``init`` is used: DIS starts later calls from
            its last result).
        src, dst: ``uint8 (H, W)``.
        init: optional ``float32 (H, W, 2)`` initial flow src -> dst in px.
    Returns:
        ``float32 (H, W, 2)`` flow src -> dst in px.
    """
    h, w = src.shape[:2]
    rows, cols = max(0, MIN_DIS_SIDE - h), max(0, MIN_DIS_SIDE - w)
    if init is not None:
        init = np.ascontiguousarray(_padded(np.asarray(init, np.float32), rows, cols))
    flow = dis.calc(_padded(src, rows, cols), _padded(dst, rows, cols), init)
    return np.ascontiguousarray(flow[:h, :w])
