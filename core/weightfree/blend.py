"""Weight-free synthesis: splat both frames to time t and blend them, occlusion-aware.

* Each frame is forward-splatted to ``t`` with softmax splatting whose importance is the
  forward-backward consistency of its flow: a pixel that will be covered at the other end
  (inconsistent flow) loses against the pixel that covers it (consistent flow).
* The two splatted frames are blended with temporal weights ``(1 - t)`` and ``t`` times their
  coverage, so a region seen only in one frame comes from that frame.
* Pixels neither frame reaches (disocclusion holes) are inpainted with OpenCV.

The learned synthesis (GridNet) lives in ``core.model``.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..progress import checkpoint
from ..splat.forward import forward_splat

CONSISTENCY_SCALE = 1.0
"""Importance = exp(-scale * forward-backward error in px) ..."""
MAX_INCONSISTENCY = 20.0
"""... with the exponent capped at -20: pixels occluded by a large motion (errors of 100+ px) keep
a tiny but non-zero weight (e^-20 ~ 2e-9) instead of underflowing to 0 in float32, where they
would splat as black."""
HOLE_COVERAGE = 1e-3
"""Targets whose combined bilinear coverage is below this are holes."""
MIN_TRUST = 1e-4
"""Floor of the mean importance used when blending the two splatted frames."""


def backward_sample(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``values (N, C, H, W)`` at ``x + flow(x)`` (bilinear, border clamp)."""
    n, _, h, w = values.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(values, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency_error(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """``|F_ab(x) + F_ba(x + F_ab(x))|`` in px, ``(N, 1, H, W)``: large where x is occluded in b."""
    back = backward_sample(flow_ba, flow_ab)
    return (flow_ab + back).norm(dim=1, keepdim=True)


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    ok = den > 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def _softmax_splat(image: torch.Tensor, flow: torch.Tensor, importance: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Softmax splatting.

    Returns the splatted image, the bilinear coverage (sum of bilinear weights) and the mean
    importance of what arrived (in [0, 1]).
    """
    weight = importance.exp()
    summed, coverage = forward_splat(torch.cat([image * weight, weight], 1), flow)
    num, den = summed[:, :-1], summed[:, -1:]
    return _safe_div(num, den), coverage, _safe_div(den, coverage)


@torch.inference_mode()
def blend_at(frame1: torch.Tensor, frame3: torch.Tensor, flow_13: torch.Tensor, flow_31: torch.Tensor,
             t: float) -> torch.Tensor:
    """The in-between at time ``t``.

    Args:
        frame1, frame3: ``(N, 3, H, W)`` float in [0, 1].
        flow_13, flow_31: ``(N, 2, H, W)`` px.
        t: in (0, 1).
    Returns:
        ``(N, 3, H, W)`` float in [0, 1].
    """
    if not 0.0 < t < 1.0:
        raise InputError(f"t must be in (0, 1), got {t}")
    if frame1.shape != frame3.shape or flow_13.shape[-2:] != frame1.shape[-2:] or flow_31.shape != flow_13.shape:
        raise InputError("frames and flows must share one size")
    imp1 = -(CONSISTENCY_SCALE * consistency_error(flow_13, flow_31)).clamp_max(MAX_INCONSISTENCY)
    imp3 = -(CONSISTENCY_SCALE * consistency_error(flow_31, flow_13)).clamp_max(MAX_INCONSISTENCY)
    checkpoint("synthesis", 1, 4)
    w1, c1, q1 = _softmax_splat(frame1, flow_13 * t, imp1)
    checkpoint("synthesis", 2, 4)
    w3, c3, q3 = _softmax_splat(frame3, flow_31 * (1.0 - t), imp3)
    # temporal weight x coverage x how trustworthy the arrivals are (floored so that a region
    # only one frame reaches is taken from that frame even if its flow there is inconsistent)
    a1 = (1.0 - t) * c1.clamp(0, 1) * q1.clamp_min(MIN_TRUST)
    a3 = t * c3.clamp(0, 1) * q3.clamp_min(MIN_TRUST)
    total = a1 + a3
    holes = (c1 + c3 <= HOLE_COVERAGE)[:, 0]
    out = _safe_div(a1 * w1 + a3 * w3, total)
    checkpoint("synthesis", 3, 4)
    if bool(holes.any()):
        out = _inpaint(out, holes)
    return out.clamp(0, 1)


def _inpaint(images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    result = []
    for img, hole in zip(images, holes):
        u8 = (img.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8)
        filled = cv2.inpaint(u8, hole.cpu().numpy().astype(np.uint8), 3, cv2.INPAINT_TELEA)
        f = torch.from_numpy(filled).to(images.device).permute(2, 0, 1).float() / 255.0
        result.append(torch.where(hole[None], f, img))
    return torch.stack(result)
