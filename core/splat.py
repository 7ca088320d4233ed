"""Forward warping by bilinear splatting ("summation" splatting, normalised afterwards).

This is the warp the original AnimeInterp / AFI models use (ARCHITECTURE.md §3), written with
``scatter_add_`` so it runs on CPU and CUDA without custom kernels:

* every source pixel ``(x, y)`` with flow ``(u, v)`` adds its value to the four integer
  neighbours of ``(x + u, y + v)`` with bilinear weights;
* the bilinear weights come from the fractional part of the *flow* (as in the original code),
  targets outside the image are dropped;
* the normalised result divides by the splatted weight sum where that sum is ``> 0`` (strictly)
  and is 0 elsewhere; no epsilon.
"""
from __future__ import annotations

import torch

from .errors import InputError


def _check(values: torch.Tensor, flow: torch.Tensor) -> None:
    if values.ndim != 4 or flow.ndim != 4 or flow.shape[1] != 2:
        raise InputError(f"expected values (N, C, H, W) and flow (N, 2, H, W); got "
                         f"{tuple(values.shape)} and {tuple(flow.shape)}")
    if values.shape[0] != flow.shape[0] or values.shape[2:] != flow.shape[2:]:
        raise InputError(f"values {tuple(values.shape)} and flow {tuple(flow.shape)} do not match")


def forward_splat(values: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear summation splatting.

    Args:
        values: ``(N, C, H, W)`` float tensor to warp.
        flow: ``(N, 2, H, W)`` displacement in pixels, channel 0 = x (+right), 1 = y (+down).

    Returns:
        ``(summed, weight)``: ``(N, C, H, W)`` splatted values and ``(N, 1, H, W)`` splatted
        bilinear weights.
    """
    _check(values, flow)
    n, c, h, w = values.shape
    flow = flow.to(values.dtype)
    fx, fy = flow[:, 0:1], flow[:, 1:2]
    x0, y0 = torch.floor(fx), torch.floor(fy)
    ax, ay = fx - x0, fy - y0  # fractional parts, as in the original (flow, not absolute coords)
    bx, by = (x0 + 1) - fx, (y0 + 1) - fy
    rows = torch.arange(h, device=values.device).view(1, 1, h, 1)
    cols = torch.arange(w, device=values.device).view(1, 1, 1, w)
    tx0 = x0.long() + cols
    ty0 = y0.long() + rows

    summed = values.new_zeros(n, c, h * w + 1)  # the last slot collects dropped targets
    weight = values.new_zeros(n, 1, h * w + 1)
    flat_values = values.reshape(n, c, h * w)
    weighted = torch.empty_like(flat_values)  # reused by the 4 corners (fresh large buffers page-fault)
    for dx, dy, wgt in ((0, 0, bx * by), (0, 1, bx * ay), (1, 0, ax * by), (1, 1, ax * ay)):
        tx, ty = tx0 + dx, ty0 + dy
        inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
        index = torch.where(inside, ty * w + tx, torch.full_like(tx, h * w)).reshape(n, 1, h * w)
        wflat = wgt.reshape(n, 1, h * w)
        weight.scatter_add_(2, index, wflat)
        if values.requires_grad or flow.requires_grad:
            weighted = flat_values * wflat  # autograd needs each product
        else:
            torch.mul(flat_values, wflat, out=weighted)
        summed.scatter_add_(2, index.expand(n, c, h * w), weighted)
    return summed[:, :, : h * w].reshape(n, c, h, w), weight[:, :, : h * w].reshape(n, 1, h, w)


def splat_average(values: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Splat and normalise: ``summed / weight`` where ``weight > 0``, else 0.

    Returns ``(warped (N, C, H, W), weight (N, 1, H, W))``. Without autograd the division is done
    in place (no extra full-size temporaries).
    """
    summed, weight = forward_splat(values, flow)
    covered = weight > 0
    divisor = torch.where(covered, weight, torch.ones_like(weight))
    if summed.requires_grad:
        warped = torch.where(covered, summed / divisor, torch.zeros_like(summed))
    else:
        warped = summed.div_(divisor).masked_fill_(~covered, 0.0)
    return warped, weight
