"""ComfyUI IMAGE tensors <-> the library's frames.

ComfyUI's IMAGE is a float tensor ``(B, H, W, C)`` in [0, 1] (C = 3, sometimes 1 or 4).
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.errors import InputError
from ..core.io.images import to_rgb_uint8


def image_batch_to_frames(images: torch.Tensor, name: str = "images") -> list[np.ndarray]:
    """IMAGE ``(B, H, W, C)`` -> list of ``uint8`` RGB ``(H, W, 3)`` frames."""
    if not isinstance(images, torch.Tensor):
        raise InputError(f"{name}: expected an IMAGE tensor, got {type(images).__name__}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise InputError(f"{name}: expected an IMAGE batch (B, H, W, C), got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise InputError(f"{name}: the batch is empty")
    return [to_rgb_uint8(images[i], f"{name}[{i}]") for i in range(images.shape[0])]


def frames_to_image_batch(frames: list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """List of ``uint8`` RGB frames (same size) -> IMAGE ``(B, H, W, 3)`` float in [0, 1]."""
    if not frames:
        raise InputError("no frames to return")
    return torch.from_numpy(np.stack(frames)).to(device).float().div_(255.0)
