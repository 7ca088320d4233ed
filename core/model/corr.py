"""All-pairs correlation pyramid and its windowed lookup (RAFT ``CorrBlock``).

Level 0 holds, for every source position of ``fmap1``, the dot products with every target
position of ``fmap2`` divided by ``sqrt(C)``; levels 1-3 average-pool the *target* dimensions by
2. A lookup samples a (2r+1)x(2r+1) window around each target coordinate on every level.

Channel order of a lookup (inherited from RAFT; the motion encoder's weights depend on it): on
each level, channel ``k = (2r+1) * i + j`` holds the sample at x-offset ``i - r`` and y-offset
``j - r``, i.e. the *slow* window index runs along x. Levels are concatenated 0..L-1.

Sampling uses ``grid_sample`` with zero padding on coordinates normalised by ``size - 1``; with
``align_corners=True`` (quirk 3 in ``compat.py``) that is exact pixel-coordinate bilinear sampling.
A level of size 1 would divide by zero: callers keep the 1/8 grid at least 16 cells per side.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def all_pairs_correlation(fmap1: torch.Tensor, fmap2: torch.Tensor) -> torch.Tensor:
    """``(N, C, h, w)`` x2 -> ``(N * h * w, 1, h, w)`` correlation volume, scaled by ``1/sqrt(C)``.

    The scale is applied to ``fmap1`` before the product: for C = 256 it is 1/16, a power of two,
    so the result is bit-identical to dividing the (much larger) volume afterwards.
    """
    n, c, h, w = fmap1.shape
    a = fmap1.reshape(n, c, h * w) * (1.0 / math.sqrt(c))
    b = fmap2.reshape(n, c, h * w)
    volume = torch.matmul(a.transpose(1, 2), b)
    return volume.reshape(n * h * w, 1, h, w)


class CorrelationPyramid:
    """Correlation volume pyramid of one frame pair, queried once per refinement iteration.

    Args:
        fmap1, fmap2: ``(N, C, h, w)`` float32 features at 1/8 resolution (h, w >= 16).
        levels: pyramid levels (4).
        radius: lookup window radius (4 -> 9x9 window).
        align_corners: ``grid_sample`` mode of the lookup (True reproduces the original).
    """

    def __init__(self, fmap1: torch.Tensor, fmap2: torch.Tensor, levels: int = 4, radius: int = 4,
                 align_corners: bool = True) -> None:
        self.radius = radius
        self.align_corners = align_corners
        volume = all_pairs_correlation(fmap1.float(), fmap2.float())
        self.levels = [volume]
        for _ in range(levels - 1):
            volume = F.avg_pool2d(volume, 2, stride=2)
            self.levels.append(volume)
        offsets = torch.linspace(-radius, radius, 2 * radius + 1, device=fmap1.device)
        # window[i, j] = (offsets[i], offsets[j]) is added to (x, y): i runs along x (RAFT order).
        self.window = torch.stack(torch.meshgrid(offsets, offsets, indexing="ij"), dim=-1)
        self.window = self.window.view(1, 2 * radius + 1, 2 * radius + 1, 2)

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """Sample the pyramid around ``coords``.

        Args:
            coords: ``(N, 2, h, w)`` target coordinates (x, y) in 1/8-grid pixels.

        Returns:
            ``(N, levels * (2r+1)^2, h, w)`` float32 correlation features, in channels_last
            memory format (the layout the samples come out in).
        """
        n, _, h, w = coords.shape
        centres = coords.permute(0, 2, 3, 1).reshape(n * h * w, 1, 1, 2)
        samples = []
        for i, volume in enumerate(self.levels):
            points = centres / 2**i + self.window
            samples.append(self._sample(volume, points).view(n, h, w, -1))
        return torch.cat(samples, dim=-1).permute(0, 3, 1, 2).float()

    def _sample(self, volume: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Bilinear sampling at pixel coordinates (normalised by size - 1, zero padding)."""
        lh, lw = volume.shape[-2:]
        x, y = points.split([1, 1], dim=-1)
        grid = torch.cat([2 * x / (lw - 1) - 1, 2 * y / (lh - 1) - 1], dim=-1)
        return F.grid_sample(volume, grid, align_corners=self.align_corners)
