"""The learned 3-level feature pyramid that is warped alongside the frames (``feat_ext``).

A small CNN, not a VGG: six 3x3 convolutions, each followed by its own single-slope PReLU; the
first convolution of levels 2 and 3 has stride 2 (ARCHITECTURE.md §2.1).

It runs and returns in ``channels_last`` memory format: PReLU and oneDNN convolutions are
several times faster in NHWC on CPU, the splatting handles NHWC natively, and GridNet runs in it.
"""
from __future__ import annotations

import torch
from torch import nn

from .inplace import prelu


class PyramidLevel(nn.Module):
    """conv3x3 (stride s) -> PReLU -> conv3x3 -> PReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.act1 = nn.PReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.act2 = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the convolutions' outputs are nobody else's: PReLU may run in place on them
        return prelu(self.act2, self.conv2(prelu(self.act1, self.conv1(x), owned=True)), owned=True)


class FeaturePyramid(nn.Module):
    """Frame -> features at full, 1/2 and 1/4 resolution.

    Input: ``(N, 3, H, W)`` frame mapped to [-1, 1].
    Output: ``(N, 32, H, W)``, ``(N, 64, ceil(H/2), ceil(W/2))``, ``(N, 96, ceil(H/4), ceil(W/4))``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.level1 = PyramidLevel(3, 32, stride=1)
        self.level2 = PyramidLevel(32, 64, stride=2)
        self.level3 = PyramidLevel(64, 96, stride=2)

    def forward(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f1 = self.level1(frame.contiguous(memory_format=torch.channels_last))
        f2 = self.level2(f1)
        f3 = self.level3(f2)
        return f1, f2, f3
