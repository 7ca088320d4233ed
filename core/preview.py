"""Pictures of intermediate results: segments, matches and flows as RGB images.

All functions return ``uint8`` RGB ``(H, W, 3)`` arrays.
"""
from __future__ import annotations

import numpy as np

from .sgm.match import Matches


def label_colours(num_labels: int, seed: int = 0) -> np.ndarray:
    """``uint8 (num_labels, 3)`` random, reasonably bright colours (deterministic)."""
    rng = np.random.default_rng(seed)
    return rng.integers(40, 256, size=(num_labels, 3), dtype=np.uint8)


def segments_preview(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Each segment painted in a random colour."""
    return label_colours(int(labels.max()) + 1, seed)[labels]


def segments_pair(labels1: np.ndarray, labels3: np.ndarray, seed: int = 0) -> np.ndarray:
    """Both frames' segments side by side (the SGM progress preview)."""
    return np.hstack([segments_preview(labels1, seed), segments_preview(labels3, seed + 1)])


def matches_preview(matches: Matches, seed: int = 0, unmatched: tuple[int, int, int] = (255, 255, 255)
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Mutually matched segments painted in the same colour in both frames, the rest white.

    Returns the two pictures (frame 1, frame 3).
    """
    pairs = matches.mutual_pairs()
    n1, n3 = matches.stats1.num_labels, matches.stats3.num_labels
    colours = label_colours(max(len(pairs), 1), seed)
    lut1 = np.tile(np.array(unmatched, np.uint8), (n1, 1))
    lut3 = np.tile(np.array(unmatched, np.uint8), (n3, 1))
    lut1[pairs[:, 0]] = colours[: len(pairs)]
    lut3[pairs[:, 1]] = colours[: len(pairs)]
    return lut1[matches.stats1.labels], lut3[matches.stats3.labels]


def _colour_wheel() -> np.ndarray:
    """The Middlebury flow colour wheel (Baker et al. 2007): 55 hues, ``float64 (55, 3)`` in [0, 255]."""
    segments = [(15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
                (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
                (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0))]
    rows = []
    for n, a, b in segments:
        f = np.arange(n)[:, None] / n
        rows.append(np.array(a)[None] * (1 - f) + np.array(b)[None] * f)
    return np.concatenate(rows, 0)


_WHEEL = _colour_wheel()


def flow_pair_preview(flow_13: np.ndarray, flow_31: np.ndarray, valid_13: np.ndarray | None = None,
                      valid_31: np.ndarray | None = None) -> np.ndarray:
    """Forward | backward flow side by side on one colour scale: ``uint8 (H, 2W, 3)``."""
    scale = max(float(np.abs(flow_13).max()), float(np.abs(flow_31).max()), 1.0)
    return np.hstack([flow_to_rgb(flow_13, scale, valid_13), flow_to_rgb(flow_31, scale, valid_31)])


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None, valid: np.ndarray | None = None) -> np.ndarray:
    """Colour-code a flow: hue = direction, saturation = magnitude (white = no motion).

    Args:
        flow: ``(2, H, W)`` pixels, channel 0 = x.
        max_magnitude: magnitude shown fully saturated (default: the largest in the flow).
        valid: optional ``bool (H, W)``; invalid pixels are drawn mid-grey.
    """
    u, v = flow[0].astype(np.float64), flow[1].astype(np.float64)
    mag = np.sqrt(u * u + v * v)
    scale = max_magnitude if max_magnitude else max(float(mag.max()), 1e-6)
    mag = np.clip(mag / scale, 0, 1)
    angle = np.arctan2(-v, -u) / np.pi  # [-1, 1]
    pos = (angle + 1) / 2 * (len(_WHEEL) - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = (i0 + 1) % len(_WHEEL)
    f = (pos - i0)[..., None]
    hue = _WHEEL[i0] * (1 - f) + _WHEEL[i1] * f
    rgb = 255 - mag[..., None] * (255 - hue)
    out = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    if valid is not None:
        out[~valid] = 128
    return out
