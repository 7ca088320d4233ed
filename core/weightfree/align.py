"""The motion at time t corrected by what still separates the two warped frames.

Both end frames warped to t along the motion at t (:func:`.warp.warp_both`) should show the same
picture. Where they are a few pixels apart (a flow slightly off, the two directions' flows not
quite inverse), their average shows each line twice, softly: the in-between looks blurred. OpenCV
DIS between the two warped frames measures that residual; half its symmetric form is added to the
motion, and wherever the frames re-warped along the corrected motion agree better (box-averaged
disagreement), the correction is kept.

Measured on the real development set (``bench/bench_weight_free_real.py``, figures in its
docstring): LPIPS lower on colour and line art, line-art triplets whose LPIPS is above the
cross-fade's 13 -> 10; with exact flows and 130 px synthetic motion 20.6 -> 22.5 dB.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..dis import dis_flow
from .warp import warp_both

ALIGN_WINDOW = 15
"""Side (px) of the box window over which the warped frames' disagreement with and without the
correction is compared."""


def _grey_u8(image: np.ndarray) -> np.ndarray:
    """``float32 (H, W, 3)`` RGB in [0, 1] -> ``uint8 (H, W)`` grey, DIS's input."""
    return cv2.cvtColor(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def residual_motion(warped1: np.ndarray, warped3: np.ndarray) -> np.ndarray:
    """How far ``warped3`` lies from ``warped1`` (``float32 (H, W, 3)`` each), symmetrised: half the
    difference of DIS (MEDIUM) one way and the other, ``float32 (2, H, W)`` px."""
    g1, g3 = _grey_u8(warped1), _grey_u8(warped3)
    forward = dis_flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), g1, g3)
    backward = dis_flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), g3, g1)
    return np.ascontiguousarray((0.5 * (forward - backward)).transpose(2, 0, 1))


def align_at_t(frame1: np.ndarray, frame3: np.ndarray, motion: np.ndarray, t: float, warped1: np.ndarray,
               warped3: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The motion at t with the residual between its warped frames removed where that helps.

    Args:
        frame1, frame3: ``float32 (H, W, 3)`` in [0, 1].
        motion: ``float32 (2, H, W)`` px, frame 1 -> frame 3 of what is at each pixel at ``t``.
        warped1, warped3: the frames warped to ``t`` along ``motion`` (:func:`.warp.warp_both`).
    Returns:
        ``(motion, warped1, warped3)``, each corrected where the corrected warps agree better over
        :data:`ALIGN_WINDOW`, else as given.
    """
    corrected = motion + residual_motion(warped1, warped3)
    new1, new3 = warp_both(frame1, frame3, corrected, t)
    box = (ALIGN_WINDOW, ALIGN_WINDOW)
    before = cv2.blur(cv2.absdiff(warped1, warped3).sum(axis=2), box)
    after = cv2.blur(cv2.absdiff(new1, new3).sum(axis=2), box)
    better = after < before
    return (np.where(better[None], corrected, motion), np.where(better[..., None], new1, warped1),
            np.where(better[..., None], new3, warped3))
