"""The convolutional trunk of AlexNet (torchvision's ``alexnet().features``), as LPIPS uses it.

Layer list (input ``(N, 3, H, W)``; each conv is followed by a ReLU):

==========  ==============================  ==========
name        operation                       channels
==========  ==============================  ==========
``conv1``   11×11, stride 4, padding 2      3 → 64     → ``relu1``
(pool)      max 3×3, stride 2
``conv2``   5×5, padding 2                  64 → 192   → ``relu2``
(pool)      max 3×3, stride 2
``conv3``   3×3, padding 1                  192 → 384  → ``relu3``
``conv4``   3×3, padding 1                  384 → 256  → ``relu4``
``conv5``   3×3, padding 1                  256 → 256  → ``relu5``
==========  ==============================  ==========

Parameters are named ``conv{1..5}.weight`` / ``conv{1..5}.bias``; see
:mod:`..weights.lpips_convert` for the mapping from torchvision's ``features.{0,3,6,8,10}``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

ALEXNET_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1.weight": (64, 3, 11, 11), "conv1.bias": (64,),
    "conv2.weight": (192, 64, 5, 5), "conv2.bias": (192,),
    "conv3.weight": (384, 192, 3, 3), "conv3.bias": (384,),
    "conv4.weight": (256, 384, 3, 3), "conv4.bias": (256,),
    "conv5.weight": (256, 256, 3, 3), "conv5.bias": (256,),
}
"""Every parameter of :class:`AlexNetFeatures` with its shape."""

FEATURE_CHANNELS = (64, 192, 384, 256, 256)
"""Channels of ``relu1`` … ``relu5``."""


class AlexNetFeatures(nn.Module):
    """AlexNet trunk returning the five ReLU activations ``relu1`` … ``relu5``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 11, stride=4, padding=2)
        self.conv2 = nn.Conv2d(64, 192, 5, padding=2)
        self.conv3 = nn.Conv2d(192, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 256, 3, padding=1)
        self.conv5 = nn.Conv2d(256, 256, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(N, 3, H, W)`` (already normalised) -> five feature maps, finest first."""
        relu1 = F.relu(self.conv1(x))
        relu2 = F.relu(self.conv2(F.max_pool2d(relu1, 3, 2)))
        relu3 = F.relu(self.conv3(F.max_pool2d(relu2, 3, 2)))
        relu4 = F.relu(self.conv4(relu3))
        relu5 = F.relu(self.conv5(relu4))
        return [relu1, relu2, relu3, relu4, relu5]
