"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet backbone — the perceptual metric of the thesis.

For frames ``x``, ``y`` in [0, 1]:

1. map to [-1, 1] (``2x - 1``), then LPIPS's input scaling ``(v - shift) / scale`` with
   ``shift = (-0.030, -0.088, -0.188)``, ``scale = (0.458, 0.448, 0.450)``;
2. AlexNet ``relu1`` … ``relu5`` of both (:class:`.alexnet.AlexNetFeatures`);
3. unit-normalise every feature vector over channels (``f / (‖f‖ + 1e-10)``);
4. per layer: squared difference, a 1×1 convolution to one channel with the learned non-negative
   weights ``lin{k}`` (no bias), then the spatial mean;
5. sum over the five layers.

Tables report LPIPS ×100 (lower is better). Weights: the AlexNet trunk (manifest name
``"alexnet"``, from torchvision's ImageNet AlexNet) and the linear heads (``"lpips-alex"``, from
the ``lpips`` package's ``weights/v0.1/alex.pth``); both files are read through
:mod:`..weights.lpips_convert`, which accepts the original ``.pth`` files and our safetensors.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import InputError, WeightsError
from ..features.alexnet import FEATURE_CHANNELS, AlexNetFeatures

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10

ALEXNET_WEIGHT_NAME = "alexnet"
HEADS_WEIGHT_NAME = "lpips-alex"


def _unit_normalise(f: torch.Tensor) -> torch.Tensor:
    return f / (f.pow(2).sum(dim=1, keepdim=True).sqrt() + _EPS)


class LPIPS(nn.Module):
    """LPIPS distance network: AlexNet trunk + five linear heads (see the module docstring).

    Parameters: ``backbone.conv{1..5}.{weight,bias}`` and ``heads.{0..4}`` (``(1, C_k, 1, 1)``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.backbone = AlexNetFeatures()
        self.heads = nn.ParameterList([nn.Parameter(torch.zeros(1, c, 1, 1)) for c in FEATURE_CHANNELS])
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Distances between ``x`` and ``y``: ``(N, 3, H, W)`` float in [0, 1] -> ``(N,)``."""
        if x.ndim != 4 or x.shape[1] != 3 or x.shape != y.shape:
            raise InputError(f"LPIPS expects two (N, 3, H, W) batches of one shape; got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if min(x.shape[-2:]) < 32:
            raise InputError(f"LPIPS needs frames of at least 32x32 px, got {x.shape[-1]}x{x.shape[-2]}")
        dtype = self.shift.dtype
        feats_x = self.backbone(((2 * x.to(dtype) - 1) - self.shift) / self.scale)
        feats_y = self.backbone(((2 * y.to(dtype) - 1) - self.shift) / self.scale)
        total = x.new_zeros(x.shape[0], dtype=dtype)
        for fx, fy, w in zip(feats_x, feats_y, self.heads):
            diff = (_unit_normalise(fx) - _unit_normalise(fy)).pow(2)
            total = total + (diff * w).sum(dim=1).mean(dim=(1, 2))
        return total

    def load_parts(self, backbone: dict[str, torch.Tensor], heads: dict[str, torch.Tensor]) -> LPIPS:
        """Load converted state dicts (``conv*`` keys and ``lin{k}.weight`` keys)."""
        self.backbone.load_state_dict(backbone, strict=True)
        with torch.no_grad():
            for k, p in enumerate(self.heads):
                p.copy_(heads[f"lin{k}.weight"])
        return self


def load_lpips(
    alexnet_path: str | os.PathLike,
    heads_path: str | os.PathLike,
    device: torch.device | str = "cpu",
) -> LPIPS:
    """Build :class:`LPIPS` from the AlexNet trunk file and the linear-heads file.

    Both may be the original files (torchvision ``alexnet-*.pth``, lpips ``alex.pth``, or a whole
    ``lpips.LPIPS`` state dict) or our converted safetensors.

    Raises:
        WeightsError: a file is missing, unreadable, or holds the wrong tensors.
    """
    from ..weights.lpips_convert import load_alexnet_weights, load_lpips_heads

    model = LPIPS().load_parts(load_alexnet_weights(alexnet_path), load_lpips_heads(heads_path))
    return model.to(device)


def resolve_lpips(
    alexnet_path: str | os.PathLike | None = None,
    heads_path: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
    search_dirs: Sequence[str | os.PathLike] = (),
    offline: bool | None = None,
) -> tuple[LPIPS | None, str]:
    """Load LPIPS from explicit paths, else through the weights manifest; never raises for absence.

    Args:
        search_dirs, offline: passed to ``core.weights.resolve.resolve_weight`` (folders to look in
            first, e.g. ComfyUI's model folders; ``offline=None`` follows ``HF_HUB_OFFLINE``).

    Returns:
        ``(model, note)``: the model, or ``None`` with ``note`` saying why LPIPS is unavailable
        (the evaluation then reports the other metrics and prints the note).
    """
    paths: list[Path] = []
    for explicit, name in ((alexnet_path, ALEXNET_WEIGHT_NAME), (heads_path, HEADS_WEIGHT_NAME)):
        if explicit is not None:
            paths.append(Path(explicit))
            continue
        try:
            from ..weights.resolve import resolve_weight
        except ImportError:
            return None, (f"LPIPS weights not given and the weight resolver is not available; pass the "
                          f"'{ALEXNET_WEIGHT_NAME}' and '{HEADS_WEIGHT_NAME}' files explicitly")
        try:
            paths.append(Path(resolve_weight(name, search_dirs=search_dirs, offline=offline)))
        except WeightsError as e:
            return None, f"LPIPS weights '{name}' not available: {e}"
    try:
        return load_lpips(paths[0], paths[1], device), f"LPIPS v0.1 AlexNet ({paths[0].name}, {paths[1].name})"
    except WeightsError as e:
        return None, f"LPIPS weights unusable: {e}"
