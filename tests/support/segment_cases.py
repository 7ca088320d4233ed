"""Small random inputs for the segmentation equivalence tests: binary line images with necks,
gaps and border contacts, label maps with many small regions, and frames to go with them."""
from __future__ import annotations

import cv2
import numpy as np


def random_binary(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """``uint8 (h, w)``, 255 = region, 0 = line: smoothed noise blobs plus random strokes, so
    regions touch the border, have narrow necks and leave slivers a ball cannot enter."""
    noise = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.7, 3.0))
    region = noise > np.quantile(noise, rng.uniform(0.1, 0.5))
    out = np.where(region, 255, 0).astype(np.uint8)
    for _ in range(rng.integers(0, 6)):
        p = rng.integers(0, [w, h], size=(2, 2))
        cv2.line(out, tuple(map(int, p[0])), tuple(map(int, p[1])), 0, int(rng.integers(1, 3)))
    return out


def split_into_connected_pieces(labels: np.ndarray) -> np.ndarray:
    """``int64 (h, w)``: every 4-connected piece of each id > 0 gets its own id 1..n (0 stays 0)."""
    out = np.zeros(labels.shape, np.int64)
    next_id = 1
    for v in np.unique(labels[labels > 0]):
        n, comp = cv2.connectedComponents((labels == v).astype(np.uint8), connectivity=4)
        out[comp > 0] = comp[comp > 0] + next_id - 1
        next_id += n - 1
    return out


def random_label_map(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """``int32 (h, w)`` ids >= 0 (0 = line): a coarse mosaic cut into many small pieces, with line
    pixels, one-pixel regions and ids that are not in raster order."""
    cell = int(rng.integers(3, 9))
    coarse = rng.integers(1, 40, size=(h // cell + 1, w // cell + 1))
    labels = np.kron(coarse, np.ones((cell, cell), np.int64))[:h, :w]
    jitter = rng.random((h, w))
    labels = np.where(jitter < 0.08, rng.integers(1, 60, size=(h, w)), labels)
    labels = np.where(jitter > 0.93, 0, labels)
    out = split_into_connected_pieces(labels)
    perm = np.r_[0, rng.permutation(int(out.max())) + 1]  # shuffle the ids
    return perm[out].astype(np.int32)


def random_image_for(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """``uint8 (h, w, 3)`` BGR: a colour per region (some regions share colours, some are exactly
    constant, some are noisy), so histograms hit constant ranges and bin edges."""
    n = int(labels.max()) + 1
    palette = rng.integers(0, 256, size=(max(n // 3, 2), 3))
    colour = palette[rng.integers(0, len(palette), size=n)]
    img = colour[labels].astype(np.int64)
    noisy = rng.random(n) < 0.6
    img += np.where(noisy[labels][..., None], rng.integers(-25, 26, size=img.shape), 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def large_and_small_regions(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """``int32 (h, w)``: a few large regions (hundreds to thousands of pixels, so merges add to
    regions above the 500-pixel limit) sprinkled with small fragments and line pixels."""
    seeds = rng.integers(0, [h, w], size=(int(rng.integers(3, 7)), 2))
    yy, xx = np.mgrid[0:h, 0:w]
    nearest = np.argmin([(yy - y) ** 2 + (xx - x) ** 2 for y, x in seeds], axis=0) + 1
    fragments = random_label_map(rng, h, w) + nearest.max()
    labels = np.where(rng.random((h, w)) < 0.15, fragments, nearest)
    labels[rng.random((h, w)) < 0.05] = 0
    return split_into_connected_pieces(labels).astype(np.int32)
