"""The flow network's feature encoder (RAFT ``BasicEncoder``, output stride 8).

stem: conv7x7/2 3->64, norm, ReLU; three stages of two residual blocks (64, 96/2, 128/2);
head: conv1x1 128->256. Two normalisation variants are used by the checkpoints:

* ``"instance"`` (AFI, RFR+GMA): ``InstanceNorm2d`` without affine parameters;
* ``"none"`` (AnimeInterp, plain RFR): no normalisation.

Neither has parameters, so the weight layout is the same for both. InstanceNorm is per sample,
so encoding frames one at a time equals encoding them as one batch.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from .inplace import add_into

ENCODER_NORMS = ("instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels)  # affine=False, no running stats: no weights
    if kind == "none":
        return nn.Identity()
    raise InputError(f"encoder norm must be one of {ENCODER_NORMS}, got {kind!r}")


class ResidualBlock(nn.Module):
    """relu(shortcut(x) + relu(norm(conv(relu(norm(conv(x))))))), shortcut = conv1x1+norm if strided."""

    def __init__(self, in_channels: int, out_channels: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.norm1 = _norm(norm, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.norm2 = _norm(norm, out_channels)
        self.relu = nn.ReLU(inplace=True)
        if stride == 1:
            self.shortcut_conv: nn.Module | None = None
            self.shortcut_norm: nn.Module | None = None
        else:
            self.shortcut_conv = nn.Conv2d(in_channels, out_channels, 1, stride=stride)
            self.shortcut_norm = _norm(norm, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        if self.shortcut_conv is not None:
            x = self.shortcut_norm(self.shortcut_conv(x))
        return self.relu(add_into(y, x))  # y is this block's own (out of place when autograd records)


class FeatureEncoder(nn.Module):
    """Frame -> 256-channel features at 1/8 resolution.

    Input: ``(N, 3, H, W)`` in [-1, 1] (H, W multiples of 8 in this model).
    Output: ``(N, 256, H/8, W/8)``.
    """

    def __init__(self, norm: str = "instance", out_channels: int = 256) -> None:
        super().__init__()
        self.norm_kind = norm
        self.stem = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.stem_norm = _norm(norm, 64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(ResidualBlock(64, 64, norm), ResidualBlock(64, 64, norm))
        self.layer2 = nn.Sequential(ResidualBlock(64, 96, norm, 2), ResidualBlock(96, 96, norm))
        self.layer3 = nn.Sequential(ResidualBlock(96, 128, norm, 2), ResidualBlock(128, 128, norm))
        self.proj = nn.Conv2d(128, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem_norm(self.stem(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        # channels_last: oneDNN's NCHW 1x1 convolution rounds differently with the thread count
        # (1e-6), which would make the frames depend on it; this one does not.
        return self.proj(x.contiguous(memory_format=torch.channels_last))
