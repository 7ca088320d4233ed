"""Frame validation and conversion.

The library accepts frames as NumPy arrays or torch tensors in any of these layouts:

* ``(H, W)`` grey, ``(H, W, 1)`` grey, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA;
* ``uint8`` in [0, 255] or floating point in [0, 1].

Alpha is composited over white (the paper colour of a drawing), grey is replicated to RGB.
Everything is converted once, at the boundary, to ``uint8`` RGB ``(H, W, 3)`` for the SGM stage
(OpenCV) or to float tensors ``(N, 3, H, W)`` in [0, 1] for the learned stages.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ComputeError, InputError

ArrayLike = np.ndarray | torch.Tensor

MIN_SIDE = 8
"""Smallest accepted frame side in pixels (smaller frames hold no usable drawing)."""

FLOAT_RANGE_SLACK = 0.05
"""Float frames may stray this far outside [0, 1] (filter overshoot, rounding) and are clipped;
farther out they are refused: 0..255 floats or [-1, 1] frames would be clipped to a wrong image."""

MAX_PIXELS = 8192 * 8192
"""Largest accepted frame (64 MP); larger frames are refused before any allocation."""


def _as_numpy(image: ArrayLike, name: str) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu")
        if image.dtype in (torch.float16, torch.bfloat16):
            image = image.float()
        image = image.numpy()
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name}: expected a NumPy array or torch tensor, got {type(image).__name__}")
    return image


def to_rgb_uint8(image: ArrayLike, name: str = "frame") -> np.ndarray:
    """Convert one frame to a C-contiguous ``uint8`` RGB array ``(H, W, 3)``.

    Args:
        image: ``(H, W)``, ``(H, W, 1|3|4)`` array or tensor; ``uint8`` [0, 255] or float [0, 1].
        name: how the frame is called in error messages.

    Raises:
        InputError: empty, too small or too large frames, unsupported layouts or dtypes,
            non-finite values, float values outside [0, 1] (beyond :data:`FLOAT_RANGE_SLACK`).
    """
    a = _as_numpy(image, name)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise InputError(
            f"{name}: expected shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {tuple(a.shape)}"
        )
    h, w = a.shape[:2]
    if h == 0 or w == 0:
        raise InputError(f"{name}: the frame is empty ({h}x{w})")
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{name}: {w}x{h} is too small; each side must be at least {MIN_SIDE} px")
    if h * w > MAX_PIXELS:
        raise InputError(
            f"{name}: {w}x{h} is larger than the supported {MAX_PIXELS // 1_000_000} MP; "
            "downscale the frames first"
        )
    if a.dtype == np.uint8:
        f = None
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
        f = None
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32, copy=False)
        if not np.isfinite(f).all():
            raise InputError(f"{name}: the frame contains NaN or infinite values")
        lo, hi = float(f.min()), float(f.max())
        if lo < -FLOAT_RANGE_SLACK or hi > 1.0 + FLOAT_RANGE_SLACK:
            raise InputError(
                f"{name}: float frames must be in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "divide 0..255 floats by 255, map [-1, 1] frames with (x + 1) / 2, or pass uint8"
            )
    elif np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise InputError(f"{name}: integer frames must be in [0, 255] (got {a.min()}..{a.max()})")
        a = a.astype(np.uint8)
        f = None
    else:
        raise InputError(f"{name}: unsupported dtype {a.dtype}")

    if f is None:
        f_or_u8 = a
    else:
        f_or_u8 = np.clip(f, 0.0, 1.0)

    c = f_or_u8.shape[2]
    if c == 4:
        rgb = f_or_u8[:, :, :3].astype(np.float32)
        alpha = f_or_u8[:, :, 3:4].astype(np.float32)
        if f is None:
            rgb, alpha = rgb / 255.0, alpha / 255.0
        f_or_u8 = rgb * alpha + (1.0 - alpha)  # over white paper
        f = f_or_u8
    elif c == 1:
        f_or_u8 = np.repeat(f_or_u8, 3, axis=2)

    if f is not None:
        out = np.floor(np.clip(f_or_u8, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        out = f_or_u8
    return np.ascontiguousarray(out)


def check_same_size(frames: Sequence[np.ndarray], names: Sequence[str] | None = None) -> tuple[int, int]:
    """Check that all frames share one size; return ``(H, W)``."""
    if len(frames) == 0:
        raise InputError("no frames were given")
    names = list(names) if names is not None else [f"frame {i}" for i in range(len(frames))]
    h, w = frames[0].shape[:2]
    for f, n in zip(frames[1:], names[1:]):
        if f.shape[:2] != (h, w):
            raise InputError(
                f"all frames must have the same size: {names[0]} is {w}x{h} but {n} is "
                f"{f.shape[1]}x{f.shape[0]}; resize them to one size first"
            )
    return h, w


def rgb_pair(frame1: ArrayLike, frame2: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert two frames to ``uint8`` RGB of the same size."""
    a = to_rgb_uint8(frame1, "first frame")
    b = to_rgb_uint8(frame2, "second frame")
    check_same_size([a, b], ["the first frame", "the second frame"])
    return a, b


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """``uint8`` RGB ``(H, W, 3)`` -> float tensor ``(1, 3, H, W)`` in [0, 1] (exactly ``k/255``)."""
    array = np.ascontiguousarray(image)
    if not array.flags.writeable:  # torch cannot wrap a read-only array without a warning
        array = array.copy()
    t = torch.from_numpy(array).to(device)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def flow_to_tensor(flow: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Flow ``(2, H, W)`` in px (any float dtype) -> float32 tensor ``(1, 2, H, W)`` on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(flow, dtype=np.float32))[None].to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Float tensor ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1] -> ``uint8`` RGB ``(H, W, 3)``.

    Values are clamped to [0, 1] and rounded to the nearest integer.

    Raises:
        ComputeError: the tensor holds NaN or infinite values (they would become a black frame).
    """
    if tensor.ndim == 4:
        if tensor.shape[0] != 1:
            raise InputError(f"to_image expects one frame, got a batch of {tensor.shape[0]}")
        tensor = tensor[0]
    if not bool(torch.isfinite(tensor).all()):
        raise ComputeError(
            "the interpolated frame holds NaN or infinite values, so it was not written; check the "
            "weights (animeinterp weights verify) or, with --dtype fp16, try bf16 or fp32"
        )
    t = tensor.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return t.permute(1, 2, 0).cpu().numpy()


def write_png(path, rgb: np.ndarray) -> None:
    """Write a ``uint8`` RGB image atomically (temporary file in the same folder, then rename)."""
    import os

    import cv2

    path = os.fspath(path)
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.tmp.png")
    ok = cv2.imwrite(tmp, cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)
