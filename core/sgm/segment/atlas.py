"""Packing the scattered pixels of a sparse mask into a small image, and back.

Used when only a few, widely spread pixels are left to work on: the clusters of pixels are cut
out with a margin, laid side by side (separated by a gap) in one compact "atlas" image, processed
there, and the result is copied back. A cluster is a connected group of occupied tiles, so two
pixels less than one tile apart always land in the same cut-out, with their surroundings.

Everything outside the cut-outs (the gaps) is marked in :attr:`Atlas.outside`, so that callers can
make it behave like the outside of the original image.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Atlas:
    """Cut-outs of an ``(H, W)`` image packed into ``shape``.

    ``source[i]`` = ``(y0, y1, x0, x1)`` of cut-out ``i`` in the image, ``place[i]`` = ``(ay, ax)``
    of its top-left corner in the atlas; ``outside`` (bool, atlas shape) is True in the gaps.
    """

    shape: tuple[int, int]
    source: list[tuple[int, int, int, int]]
    place: list[tuple[int, int]]
    outside: np.ndarray

    def copy_back(self, atlas: np.ndarray, image: np.ndarray) -> None:
        """OR every cut-out of ``atlas`` into its place in ``image``."""
        for (y0, y1, x0, x1), (ay, ax) in zip(self.source, self.place):
            image[y0:y1, x0:x1] |= atlas[ay: ay + y1 - y0, ax: ax + x1 - x0]


def pack(mask: np.ndarray, tile: int, gap: int) -> tuple[Atlas, np.ndarray]:
    """Pack the nonzero pixels of ``mask`` (``uint8 (H, W)``).

    Args:
        mask: sparse ``uint8`` mask.
        tile: tile size; each cut-out is a cluster of 8-connected occupied tiles grown by one tile
            on every side (clipped to the image), so it holds every pixel within ``tile`` of the
            cluster's pixels. Pixels of other clusters inside a cut-out are left out.
        gap: blank pixels between cut-outs (and around them).

    Returns:
        ``(atlas, packed)``: the layout and the ``uint8`` packed mask.
    """
    h, w = mask.shape
    th, tw = -(-h // tile), -(-w // tile)
    padded = np.zeros((th * tile, tw * tile), bool)
    padded[:h, :w] = mask > 0
    occupied = padded.reshape(th, tile, tw, tile).any(axis=(1, 3)).view(np.uint8)
    n, cluster = cv2.connectedComponents(occupied, connectivity=8, ltype=cv2.CV_32S)
    ty, tx = np.nonzero(cluster)
    k = cluster[ty, tx] - 1
    top, bottom = np.full(n - 1, th), np.zeros(n - 1, int)
    left, right = np.full(n - 1, tw), np.zeros(n - 1, int)
    np.minimum.at(top, k, ty)
    np.maximum.at(bottom, k, ty)
    np.minimum.at(left, k, tx)
    np.maximum.at(right, k, tx)
    top, left = np.maximum(top - 1, 0), np.maximum(left - 1, 0)
    bottom, right = np.minimum(bottom + 2, th), np.minimum(right + 2, tw)  # exclusive, in tiles

    # shelf packing, tallest first, rows no wider than the image (or the widest cut-out)
    heights = np.minimum(bottom * tile, h) - top * tile
    widths = np.minimum(right * tile, w) - left * tile
    row_width = max(w, int(widths.max())) + 2 * gap
    source, place = [], []
    y = x = gap
    row_height = 0
    for i in np.argsort(-heights, kind="stable"):
        if x + widths[i] + gap > row_width:
            y, x, row_height = y + row_height + gap, gap, 0
        source.append((int(top[i] * tile), int(top[i] * tile + heights[i]),
                       int(left[i] * tile), int(left[i] * tile + widths[i])))
        place.append((y, x))
        x += int(widths[i]) + gap
        row_height = max(row_height, int(heights[i]))
    shape = (y + row_height + gap, row_width)

    packed = np.zeros(shape, np.uint8)
    outside = np.ones(shape, bool)
    order = np.argsort(-heights, kind="stable")
    for i, (y0, y1, x0, x1), (ay, ax) in zip(order, source, place):
        own = cluster[y0 // tile: -(-y1 // tile), x0 // tile: -(-x1 // tile)] == i + 1
        own = np.repeat(np.repeat(own, tile, axis=0), tile, axis=1)[: y1 - y0, : x1 - x0]
        packed[ay: ay + y1 - y0, ax: ax + x1 - x0] = mask[y0:y1, x0:x1] * own
        outside[ay: ay + y1 - y0, ax: ax + x1 - x0] = False
    return Atlas(shape, source, place, outside), packed
