"""Per-pixel error maps for looking at where an interpolation fails."""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError

DEFAULT_SATURATION = 64.0
"""Error (RGB Euclidean distance / √3, in 0–255 levels) shown at full colour; fixed so that maps of
different frames and methods are comparable."""


def pixel_error(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """RGB Euclidean distance per pixel divided by √3: float32 ``(H, W)`` in [0, 255]."""
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise InputError(f"expected two RGB frames of one shape, got {pred.shape} and {target.shape}")
    d = pred.astype(np.float32) - target.astype(np.float32)
    return np.sqrt((d * d).sum(axis=2) / 3.0)


def error_map(pred: np.ndarray, target: np.ndarray, saturation: float = DEFAULT_SATURATION) -> np.ndarray:
    """Colour-coded error of ``pred`` against ``target`` (``uint8`` RGB ``(H, W, 3)`` each).

    Black = exact, through purple and orange to light yellow at ``saturation`` levels and above
    (OpenCV's "inferno" colour map). Returns ``uint8`` RGB ``(H, W, 3)``.
    """
    if saturation <= 0:
        raise InputError(f"saturation must be positive, got {saturation}")
    level = np.clip(pixel_error(pred, target) * (255.0 / saturation), 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
