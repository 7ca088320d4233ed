"""The flow net on smaller frames than the picture, for 4K and beyond.

The GMA attention of the flow net costs arithmetic that grows with the square of the pixel count
(exact global attention over the 1/8 grid: 17 TFLOP per refinement iteration at 3840x2160, both
directions), so at 4K the flow alone would take about 70 times as long as at 960x540 even with
linear memory. Like other interpolators' "scale" setting, the frames can be shrunk before the flow
net and its flows brought back to the picture (bilinear, values scaled); GridNet still works on
the full picture.

``"auto"`` shrinks larger frames just enough to have at most :data:`AUTO_MAX_PIXELS` (1920x1088):
1080p and smaller run exactly like the original, 4K (and 8K) run the flow net at 1927x1083, DCI 2K
(2048x1080) at 1990x1049. A number in (0, 1] forces a scale; ``1`` keeps the original's numbers at
every size.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import InputError

AUTO_MAX_PIXELS = 1920 * 1088
"""Largest frame (pixels) the flow net sees in auto mode."""

FlowScale = float | str


def check_flow_scale(value: FlowScale) -> FlowScale:
    """``"auto"`` or a float in (0, 1] (a numeric string is read as one); :class:`InputError` otherwise."""
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = float(value)
        except ValueError:
            raise InputError(f"flow scale must be 'auto' or a number in (0, 1], got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < value <= 1.0:
        raise InputError(f"flow scale must be 'auto' or a number in (0, 1], got {value!r}")
    return float(value)


def flow_scale_for(height: int, width: int, setting: FlowScale = "auto") -> float:
    """The factor frames of ``height x width`` are resized by before the flow net: the forced
    ``setting``, or in auto mode 1 up to :data:`AUTO_MAX_PIXELS` and the factor that brings larger
    frames to that many pixels."""
    setting = check_flow_scale(setting)
    if setting != "auto":
        return setting
    return min(1.0, math.sqrt(AUTO_MAX_PIXELS / (height * width)))


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(h, w)`` of frames resized by ``scale`` (rounded down, at least 1 px: auto's frames never
    exceed :data:`AUTO_MAX_PIXELS`)."""
    return max(1, math.floor(height * scale + 1e-9)), max(1, math.floor(width * scale + 1e-9))


def shrink_frames(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(N, C, H, W)`` frames area-averaged to ``size`` (antialiased)."""
    return F.interpolate(frames, size=size, mode="area")


def resize_flow(flow: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """A ``(N, 2, H, W)`` flow in px resampled to ``size = (h, w)`` (float32) with its values scaled to match
    (x by ``w / W``, y by ``h / H``). ``mode``: ``"bilinear"`` to enlarge a refined flow,
    ``"nearest"`` to shrink a piecewise-constant coarse flow without mixing its pieces."""
    height, width = flow.shape[-2:]
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    # in fp32 whatever autocast is active: a 4K flow of hundreds of px has no sub-pixel left in half
    with torch.autocast(device_type=flow.device.type, enabled=False):
        resized = F.interpolate(flow.float(), size=size, mode=mode, **kwargs)
    factors = torch.tensor([size[1] / width, size[0] / height], dtype=resized.dtype, device=flow.device)
    return resized * factors.view(1, 2, 1, 1)
