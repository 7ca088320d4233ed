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

Two implementations give the same numbers (up to float rounding):

* :class:`CorrelationPyramid` builds the all-pairs volume once per frame pair, ``(hw)^2`` floats on
  level 0 (4.2 GB at 1920x1080, 67 GB at 3840x2160);
* :class:`OnDemandCorrelation` (RAFT's "alternate" correlation) keeps only the features, average-
  pooled per level (pooling the target dimensions of the volume is pooling ``fmap2``: the product is
  linear), and computes each lookup's dot products when asked, tile by tile: memory grows linearly
  with the picture, and a tile's dot products are one small GEMM against the bounding box of its
  windows. The window offsets are integers, so all 81 samples of a pixel share one bilinear
  fraction: the (2r+2)^2 integer positions around it are gathered and combined once.
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
        # In fp32 also under autocast (as RAFT does): a half-precision volume would be cast back to
        # fp32 by every iteration's grid_sample, and loses the small correlations' precision.
        with torch.autocast(device_type=fmap1.device.type, enabled=False):
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
        """Bilinear sampling at pixel coordinates ``points (..., 2)`` (x, y; normalised by size - 1
        in place, zero padding)."""
        lh, lw = volume.shape[-2:]
        # 2 * x / (lw - 1) - 1 and the same for y (the original's operations), in place
        grid = points.mul_(2).div_(points.new_tensor([lw - 1, lh - 1])).sub_(1)
        return F.grid_sample(volume, grid, align_corners=self.align_corners)


def all_pairs_bytes(n: int, h: int, w: int, levels: int = 4) -> int:
    """Bytes of the fp32 all-pairs pyramid of an ``(n, C, h, w)`` feature pair (all levels)."""
    total, lh, lw = 0, h, w
    for _ in range(levels):
        total += n * h * w * lh * lw * 4
        lh, lw = lh // 2, lw // 2
    return total


TILE = 8
"""Side (source cells on level 0) of the pixel tiles whose lookups share one GEMM; level i uses
``TILE * 2**i`` so that every level's windows span about the same number of target cells."""


class OnDemandCorrelation:
    """The lookups of :class:`CorrelationPyramid` without its volume (same arguments, same call).

    Peak extra memory per tile: ``tile_pixels x bounding_box`` floats (a few MB; at most
    ``tile_pixels x h x w`` when a tile's flows spread over the whole level).
    """

    def __init__(self, fmap1: torch.Tensor, fmap2: torch.Tensor, levels: int = 4, radius: int = 4,
                 align_corners: bool = True) -> None:
        self.radius = radius
        self.align_corners = align_corners
        fmap1, fmap2 = fmap1.float(), fmap2.float()
        c = fmap1.shape[1]
        # (N, h, w, C), scaled first like all_pairs_correlation (bit-identical products for C = 256).
        self.source = (fmap1 * (1.0 / math.sqrt(c))).permute(0, 2, 3, 1).contiguous()
        self.targets = []
        for i in range(levels):
            if i:
                fmap2 = F.avg_pool2d(fmap2, 2, stride=2)
            self.targets.append(fmap2.permute(0, 2, 3, 1).contiguous())

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """``(N, 2, h, w)`` target coordinates -> ``(N, levels * (2r+1)^2, h, w)`` (channels_last)."""
        n, _, h, w = coords.shape
        side = 2 * self.radius + 1
        out = coords.new_empty(n, h, w, len(self.targets), side, side)
        points = coords.float().permute(0, 2, 3, 1)
        for i, target in enumerate(self.targets):
            tile = TILE * 2**i
            x, y = self._pixel(points[..., 0] / 2**i, target.shape[2]), self._pixel(points[..., 1] / 2**i, target.shape[1])
            x0, y0 = torch.floor(x), torch.floor(y)
            fx, fy = x - x0, y - y0
            x0, y0 = x0.long(), y0.long()
            boxes = _tile_boxes(x0, y0, tile, self.radius)
            for b in range(n):
                for (ty, tx), (bx0, bx1, by0, by1) in boxes[b].items():
                    rows, cols = slice(ty * tile, (ty + 1) * tile), slice(tx * tile, (tx + 1) * tile)
                    out[b, rows, cols, i] = self._tile(
                        self.source[b, rows, cols], target[b], x0[b, rows, cols], y0[b, rows, cols],
                        fx[b, rows, cols], fy[b, rows, cols], (bx0, bx1, by0, by1))
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)

    def _pixel(self, coord: torch.Tensor, size: int) -> torch.Tensor:
        """The pixel coordinate ``grid_sample`` samples for ``coord`` (normalised by ``size - 1``),
        clamped where every window sample is zero anyway (keeps the integer maths finite)."""
        if not self.align_corners:
            coord = coord * (size / (size - 1)) - 0.5
        limit = self.radius + 2
        return torch.nan_to_num(coord, nan=-limit).clamp(-limit, size - 1 + limit)

    def _tile(self, source: torch.Tensor, target: torch.Tensor, x0: torch.Tensor, y0: torch.Tensor,
              fx: torch.Tensor, fy: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
        """One tile: ``(th, tw, C)`` source features -> ``(th, tw, 2r+1, 2r+1)`` samples (x-major)."""
        th, tw, c = source.shape
        r, side = self.radius, 2 * self.radius + 2
        lh, lw = target.shape[:2]
        bx0, bx1, by0, by1 = max(box[0], 0), min(box[1], lw), max(box[2], 0), min(box[3], lh)
        if bx1 <= bx0 or by1 <= by0:  # every window of the tile lies outside the level
            return source.new_zeros(th, tw, side - 1, side - 1)
        region = target[by0:by1, bx0:bx1].reshape(-1, c)
        local = torch.matmul(source.reshape(-1, c), region.T)  # (pixels, box cells)
        offsets = torch.arange(-r, r + 2, device=source.device)
        ix = x0.reshape(-1, 1, 1) + offsets.view(1, side, 1)  # [pixel, a (x), b (y)]
        iy = y0.reshape(-1, 1, 1) + offsets.view(1, 1, side)
        inside = (ix >= 0) & (ix < lw) & (iy >= 0) & (iy < lh)
        index = ((iy - by0).clamp(0, by1 - by0 - 1) * (bx1 - bx0) + (ix - bx0).clamp(0, bx1 - bx0 - 1))
        dots = torch.gather(local, 1, index.reshape(th * tw, -1)).view(-1, side, side)
        dots = dots * inside
        wx, wy = fx.reshape(-1, 1, 1), fy.reshape(-1, 1, 1)
        left = dots[:, :-1] * (1 - wx) + dots[:, 1:] * wx  # (pixels, 2r+1 (x), 2r+2 (y))
        samples = left[:, :, :-1] * (1 - wy) + left[:, :, 1:] * wy
        return samples.view(th, tw, side - 1, side - 1)


def _tile_boxes(x0: torch.Tensor, y0: torch.Tensor, tile: int, radius: int
                ) -> list[dict[tuple[int, int], tuple[int, int, int, int]]]:
    """Per batch item, ``{(tile_row, tile_col): (x_start, x_stop, y_start, y_stop)}``: the box of
    integer target positions that the windows of the tile's pixels touch (unclamped; one sync)."""
    stats = []
    for v in (x0, y0):
        v = v[:, None].float()
        lo = -F.max_pool2d(-v, tile, stride=tile, ceil_mode=True)
        hi = F.max_pool2d(v, tile, stride=tile, ceil_mode=True)
        stats += [lo[:, 0] - radius, hi[:, 0] + radius + 2]
    table = torch.stack(stats, dim=-1).long().cpu()
    return [{(ty, tx): tuple(row) for ty, cols in enumerate(item.tolist()) for tx, row in enumerate(cols)}
            for item in table]
