"""Forward warping by bilinear splatting ("summation" splatting, normalised afterwards).

This is the warp the original AnimeInterp / AFI models use (ARCHITECTURE.md §3), written with
``scatter_add_`` / ``index_add_`` so it runs on CPU and CUDA without custom kernels:

* every source pixel ``(x, y)`` with flow ``(u, v)`` adds its value to the four integer
  neighbours of ``(x + u, y + v)`` with bilinear weights;
* the bilinear weights come from the fractional part of the *flow* (as in the original code),
  targets outside the image are dropped;
* the normalised result divides by the splatted weight sum where that sum is ``> 0`` (strictly)
  and is 0 elsewhere; no epsilon.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from ..progress import checkpoint


def _check(values: torch.Tensor, flow: torch.Tensor) -> None:
    if values.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2:
        raise InputError(f"expected values (N, C, H, W) and flow (N, 2, H, W); got "
                         f"{tuple(values.shape)} and {tuple(flow.shape)}")
    if values.shape[0] != flow.shape[0] or values.shape[2:] != flow.shape[2:]:
        raise InputError(f"values {tuple(values.shape)} and flow {tuple(flow.shape)} do not match")


def _bilinear_corners(fx: torch.Tensor, fy: torch.Tensor, x: torch.Tensor, y: torch.Tensor):
    """Yield ``(target x, target y, bilinear weight)`` for the 4 integer corners around
    ``(x + fx, y + fy)``: int64 and float tensors of the broadcast shape of the arguments.

    ``fx, fy``: the flow (float); ``x, y``: the source pixel's integer coordinates. The weights come
    from the fractional parts of the *flow*, as in the original (not of the absolute coordinates).
    """
    x0, y0 = torch.floor(fx), torch.floor(fy)
    ax, ay = fx - x0, fy - y0
    bx, by = (x0 + 1) - fx, (y0 + 1) - fy
    tx0, ty0 = x0.long() + x, y0.long() + y
    for dx, dy, wgt in ((0, 0, bx * by), (0, 1, bx * ay), (1, 0, ax * by), (1, 1, ax * ay)):
        checkpoint("splat")
        yield tx0 + dx, ty0 + dy, wgt


def _weigher(values: torch.Tensor, flow: torch.Tensor):
    """``weights -> values * weights`` for one corner after another: into one buffer reused by every
    corner (fresh full-size buffers page-fault on the CPU), or a new tensor where autograd may
    record (``values`` or ``flow`` requires grad)."""
    if values.requires_grad or flow.requires_grad:
        return lambda weights: values * weights
    buffer = torch.empty_like(values)
    return lambda weights: torch.mul(values, weights, out=buffer)


BLOCK_BYTES = 8 * 2**20
"""Size of the weighted block that pixel-row splats add at a time: small enough to be reused from
the C heap (glibc maps blocks above 32 MB afresh, and each new page faults), where a whole
weighted copy of a 64-channel 960x544 level takes 133 MB."""


def _add_weighted_rows(summed: torch.Tensor, index: torch.Tensor, rows: torch.Tensor,
                       weights: torch.Tensor) -> None:
    """``summed[index[i]] += rows[i] * weights[i]`` for every source row ``i``, in source order.

    ``summed (T, C)``, ``index (K,)`` int64, ``rows (K, C)``, ``weights (K,)``. Without autograd the
    weighted rows are made a block at a time into one small buffer: each target receives the
    same additions in the same order as from one ``index_add_`` of all rows (same bits).
    """
    if rows.requires_grad or weights.requires_grad:
        summed.index_add_(0, index, rows * weights[:, None])
        return
    count, channels = rows.shape
    block = max(1, BLOCK_BYTES // (channels * rows.element_size()))
    buffer = rows.new_empty(min(block, count), channels)
    for start in range(0, count, block):
        stop = min(start + block, count)
        weighted = torch.mul(rows[start:stop], weights[start:stop, None], out=buffer[:stop - start])
        summed.index_add_(0, index[start:stop], weighted)


def _corners(flow: torch.Tensor, height: int, width: int, dump: int):
    """Yield ``(target index (N, H, W) int64, bilinear weight (N, H, W))`` for the 4 corners.

    Targets outside the image point at ``dump`` (a slot that is dropped afterwards). Index
    ``y * W + x`` is relative to the sample.
    """
    rows = torch.arange(height, device=flow.device).view(1, height, 1)
    cols = torch.arange(width, device=flow.device).view(1, 1, width)
    for tx, ty, wgt in _bilinear_corners(flow[:, 0], flow[:, 1], cols, rows):
        inside = (tx >= 0) & (tx < width) & (ty >= 0) & (ty < height)
        yield torch.where(inside, ty * width + tx, torch.full_like(tx, dump)), wgt


def forward_splat(values: torch.Tensor, flow: torch.Tensor, rows: tuple[int, int] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear summation splatting.

    Args:
        values: ``(N, C, H, W)`` float tensor to warp. A ``channels_last`` tensor is splatted
            pixel-row-wise and the result is ``channels_last`` too (same values).
        flow: ``(N, 2, H, W)`` displacement in pixels, channel 0 = x (+right), 1 = y (+down).
        rows: ``(top, bottom)``: only the target rows ``top <= y < bottom`` (a band of the
            result, exactly those rows of the whole result; only the source pixels that land
            there are splatted), or None for the whole picture.

    Returns:
        ``(summed, weight)``: ``(N, C, R, W)`` splatted values and ``(N, 1, R, W)`` splatted
        bilinear weights, ``R = bottom - top`` (``H`` without ``rows``).
    """
    _check(values, flow)
    flow = flow.to(values.dtype)
    height = values.shape[2]
    top, bottom = _target_rows(height, rows)
    channels_last = values.shape[1] > 1 and values.is_contiguous(memory_format=torch.channels_last)
    if (top, bottom) == (0, height) and not channels_last:
        return _splat_channels_first(values, flow)
    return _splat_pixel_rows(values, flow, top, bottom)


def _splat_pixel_rows(values: torch.Tensor, flow: torch.Tensor, top: int, bottom: int
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Target rows ``[top, bottom)`` (the whole picture or a band) splatted pixel-row-wise:
    ``(summed (N, C, R, W), weight (N, 1, R, W))``, ``summed`` channels_last for channels_last
    values of more than one channel."""
    n, c, _, w = values.shape
    targets = n * (bottom - top) * w
    summed = values.new_zeros(targets + 1, c)  # the last row collects dropped targets
    weight = _accumulate_pixel_rows(values, flow, top, bottom, _TargetRows(summed))
    summed = summed[:targets].view(n, bottom - top, w, c).permute(0, 3, 1, 2)
    if not values.is_contiguous(memory_format=torch.channels_last) or c == 1:
        summed = summed.contiguous()
    return summed, weight[:targets].view(n, 1, bottom - top, w)


@dataclass(frozen=True)
class _TargetRows:
    """Where a pixel-row splat adds: target ``t`` (``0 <= t <= T``, ``T`` = the dropped targets'
    row) into ``buffer[t * step + offset]``.

    ``buffer`` is a contiguous ``(M, C)`` tensor: ``index_add_`` into a strided view takes a
    generic path about 4x slower than into contiguous rows (throwaway timing), so two frames
    sharing one buffer (:func:`splat_average_pair`) interleave their rows with ``step`` 2.
    """

    buffer: torch.Tensor
    step: int = 1
    offset: int = 0

    def place(self, index: torch.Tensor) -> torch.Tensor:
        """Target indices -> buffer rows."""
        return index if self.step == 1 and self.offset == 0 else index * self.step + self.offset


def _accumulate_pixel_rows(values: torch.Tensor, flow: torch.Tensor, top: int, bottom: int,
                           into: _TargetRows) -> torch.Tensor:
    """Add target rows ``[top, bottom)`` of the splat into ``into``; returns the splatted weights
    ``(T + 1,)``, ``T = N * (bottom - top) * W`` (the last entry: dropped targets)."""
    if (top, bottom) == (0, values.shape[2]):
        return _accumulate_channels_last(values, flow, into)
    return _accumulate_band(values, flow, top, bottom, into)


def _splat_channels_first(values: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``scatter_add_`` along the flattened pixels of each channel (NCHW)."""
    n, c, h, w = values.shape
    hw = h * w
    summed = values.new_zeros(n, c, hw + 1)  # the last slot collects dropped targets
    weight = values.new_zeros(n, 1, hw + 1)
    flat_values = values.reshape(n, c, hw)
    weigh = _weigher(flat_values, flow)
    for index, wgt in _corners(flow, h, w, hw):
        index, wflat = index.reshape(n, 1, hw), wgt.reshape(n, 1, hw)
        weight.scatter_add_(2, index, wflat)
        summed.scatter_add_(2, index.expand(n, c, hw), weigh(wflat))
    return summed[:, :, :hw].reshape(n, c, h, w), weight[:, :, :hw].reshape(n, 1, h, w)


def _accumulate_channels_last(values: torch.Tensor, flow: torch.Tensor, into: _TargetRows) -> torch.Tensor:
    """``index_add_`` of whole pixel rows of C values (NHWC; faster for many channels): the whole
    picture, targets ``y * W + x`` of sample ``n`` at ``n * H * W + y * W + x``."""
    n, c, h, w = values.shape
    pixels = n * h * w
    rows = values.permute(0, 2, 3, 1).reshape(pixels, c)  # a view for channels_last values
    first = (torch.arange(n, device=values.device) * (h * w)).view(n, 1, 1)
    weight = values.new_zeros(pixels + 1)
    for index, wgt in _corners(flow, h, w, h * w):
        index = torch.where(index < h * w, index + first, pixels).reshape(pixels)
        wflat = wgt.reshape(pixels)
        weight.index_add_(0, index, wflat)
        _add_weighted_rows(into.buffer, into.place(index), rows, wflat)
    return weight


def _accumulate_band(values: torch.Tensor, flow: torch.Tensor, top: int, bottom: int,
                     into: _TargetRows) -> torch.Tensor:
    """Target rows ``[top, bottom)`` only (targets ``n * R * W + (y - top) * W + x``): the source
    pixels whose corners can land there are gathered (in pixel order) and splatted pixel-row-wise;
    every target receives the same contributions in the same order as in the whole-picture splat,
    so the values are identical."""
    n, c, h, w = values.shape
    rows_in_band = bottom - top
    first_row = torch.floor(flow[:, 1]).long() + torch.arange(h, device=flow.device).view(1, h, 1)
    lands = (first_row >= top - 1) & (first_row < bottom)  # row y0 or y0 + 1 is in the band
    source = lands.reshape(-1).nonzero().squeeze(1)  # (K,) indices into N * H * W, ascending
    pixels = values.permute(0, 2, 3, 1).reshape(n * h * w, c)[source]  # (K, C)
    motion = flow.permute(0, 2, 3, 1).reshape(n * h * w, 2)[source]  # (K, 2)
    sample, within = source // (h * w), source % (h * w)
    band_pixels = rows_in_band * w
    dump = n * band_pixels
    weight = values.new_zeros(dump + 1)
    for tx, ty, wgt in _bilinear_corners(motion[:, 0], motion[:, 1], within % w, within // w):
        inside = (tx >= 0) & (tx < w) & (ty >= top) & (ty < bottom)
        index = torch.where(inside, sample * band_pixels + (ty - top) * w + tx, dump)
        weight.index_add_(0, index, wgt)
        _add_weighted_rows(into.buffer, into.place(index), pixels, wgt)
    return weight


def _target_rows(height: int, rows: tuple[int, int] | None) -> tuple[int, int]:
    """``rows`` checked against ``height``; the whole picture when None."""
    if rows is None:
        return 0, height
    top, bottom = rows
    if not 0 <= top < bottom <= height:
        raise InputError(f"rows {rows}: expected 0 <= top < bottom <= {height}")
    return top, bottom


def splat_average_pair(values1: torch.Tensor, values2: torch.Tensor, flow1: torch.Tensor, flow2: torch.Tensor,
                       rows: tuple[int, int] | None = None) -> torch.Tensor:
    """Two frames' :func:`splat_average` results side by side in one tensor: the same values as
    ``torch.cat([splat_average(values1, flow1, rows)[0], splat_average(values2, flow2, rows)[0]], 1)``.

    Without autograd, for ``channels_last`` values of more than one channel (feature pyramids),
    both are splatted into the halves of one buffer: no concatenated copy, and a level's warped
    pair takes half the peak memory. Otherwise the two results are concatenated.

    Args:
        values1, values2: ``(N, C, H, W)`` tensors to warp; flow1, flow2: their ``(N, 2, H, W)``
            flows in pixels; rows: target rows as in :func:`forward_splat`.

    Returns:
        ``(N, 2C, R, W)`` warped values (channels_last when splatted in halves).
    """
    for values, flow in ((values1, flow1), (values2, flow2)):
        _check(values, flow)
    n, c, h, w = values1.shape
    top, bottom = _target_rows(h, rows)
    in_halves = (values1.shape == values2.shape and c > 1 and values1.dtype == values2.dtype
                 and not any(x.requires_grad for x in (values1, values2, flow1, flow2))
                 and all(v.is_contiguous(memory_format=torch.channels_last) for v in (values1, values2)))
    if not in_halves:
        return torch.cat([splat_average(values1, flow1, rows)[0], splat_average(values2, flow2, rows)[0]], dim=1)
    targets = n * (bottom - top) * w
    pair = values1.new_zeros(targets + 1, 2, c)  # the last row collects dropped targets
    for half, (values, flow) in enumerate(((values1, flow1), (values2, flow2))):
        weight = _accumulate_pixel_rows(values, flow.to(values.dtype), top, bottom,
                                        _TargetRows(pair.view(2 * (targets + 1), c), step=2, offset=half))
        _normalise(pair[:targets, half], weight[:targets, None])
    return pair[:targets].view(n, bottom - top, w, 2 * c).permute(0, 3, 1, 2)


def splat_average(values: torch.Tensor, flow: torch.Tensor, rows: tuple[int, int] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Splat and normalise: ``summed / weight`` where ``weight > 0``, else 0.

    ``rows`` as in :func:`forward_splat`. Returns ``(warped (N, C, R, W), weight (N, 1, R, W))``.
    Without autograd the division is done in place (no extra full-size temporaries).
    """
    summed, weight = forward_splat(values, flow, rows)
    return _normalise(summed, weight), weight


def _normalise(summed: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``summed / weight`` where ``weight > 0``, else 0 (``weight`` broadcasts over the channels);
    in place, into ``summed``, unless autograd records."""
    covered = weight > 0
    divisor = torch.where(covered, weight, torch.ones_like(weight))
    if summed.requires_grad:
        return torch.where(covered, summed / divisor, torch.zeros_like(summed))
    return summed.div_(divisor).masked_fill_(~covered, 0.0)
