"""Training-sample augmentation, applied to frames and init flows together.

As in the thesis / AFI data loader: frames are resized to the training size (Lanczos), then a
random square crop is taken, the sample is flipped horizontally and/or vertically, and played
backwards. Flows follow every operation, so they keep describing the motion between the
augmented frames:

* crop: the same window of the flow fields;
* horizontal flip: the fields are mirrored and their x component negated (vertical: y);
* temporal reversal: frame 1 and frame 3 swap, the 1→3 and 3→1 flows swap, ``t`` becomes ``1 - t``.

A :class:`Sample` holds float32 tensors: frames ``(3, H, W)`` in [0, 1], flows ``(2, H, W)`` in
pixels (channel 0 = x).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import InputError

Size = tuple[int, int]
"""``(width, height)``."""


@dataclass(frozen=True)
class AugmentOptions:
    """``resize``: ``(W, H)`` or None (native); ``fit``: only scale frames larger than ``resize``
    down to fit inside it (aspect kept) instead of resizing to exactly ``resize``; ``crop``:
    square side or None (whole frame)."""

    resize: Size | None = (960, 540)
    crop: int | None = 380
    hflip: bool = True
    vflip: bool = True
    reverse: bool = True
    fit: bool = False


@dataclass(frozen=True)
class AugmentParams:
    """One draw: crop origin and the three coin flips."""

    x0: int = 0
    y0: int = 0
    hflip: bool = False
    vflip: bool = False
    reverse: bool = False


@dataclass
class Sample:
    frame1: torch.Tensor
    frame2: torch.Tensor
    frame3: torch.Tensor
    flow13: torch.Tensor
    flow31: torch.Tensor
    t: float

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {
            "frame1": self.frame1,
            "frame2": self.frame2,
            "frame3": self.frame3,
            "flow13": self.flow13,
            "flow31": self.flow31,
            "t": torch.tensor(self.t, dtype=torch.float32),
        }


def training_size(native: Size, options: AugmentOptions) -> Size:
    """Size the frames are resized to before cropping: ``options.resize`` (or the native size, or
    with ``fit`` the native size scaled down to fit), enlarged proportionally if a side is smaller
    than the crop."""
    w, h = native
    if options.resize is not None and options.fit:
        s = min(1.0, options.resize[0] / w, options.resize[1] / h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    elif options.resize is not None:
        w, h = options.resize
    if options.crop is not None and min(w, h) < options.crop:
        s = options.crop / min(w, h)
        w, h = max(options.crop, int(np.ceil(w * s))), max(options.crop, int(np.ceil(h * s)))
    return int(w), int(h)


def draw_params(options: AugmentOptions, size: Size, rng: np.random.Generator) -> AugmentParams:
    """Random crop origin and flips for a frame of ``size`` ``(W, H)`` (after resizing)."""
    w, h = size
    x0 = y0 = 0
    if options.crop is not None:
        if options.crop > min(w, h):
            raise InputError(f"crop {options.crop} does not fit a {w}x{h} frame")
        x0 = int(rng.integers(0, w - options.crop + 1))
        y0 = int(rng.integers(0, h - options.crop + 1))
    hflip = bool(rng.integers(0, 2)) if options.hflip else False
    vflip = bool(rng.integers(0, 2)) if options.vflip else False
    reverse = bool(rng.integers(0, 2)) if options.reverse else False
    return AugmentParams(x0, y0, hflip, vflip, reverse)


def augment(sample: Sample, params: AugmentParams, crop: int | None) -> Sample:
    """Apply crop, flips and reversal (in that order) to frames and flows."""

    def window(x: torch.Tensor) -> torch.Tensor:
        if crop is None:
            return x
        return x[:, params.y0 : params.y0 + crop, params.x0 : params.x0 + crop]

    out = replace(
        sample,
        frame1=window(sample.frame1),
        frame2=window(sample.frame2),
        frame3=window(sample.frame3),
        flow13=window(sample.flow13),
        flow31=window(sample.flow31),
    )
    if params.hflip:
        out = _flip(out, axis=2, component=0)
    if params.vflip:
        out = _flip(out, axis=1, component=1)
    if params.reverse:
        out = replace(
            out, frame1=out.frame3, frame3=out.frame1, flow13=out.flow31, flow31=out.flow13, t=1.0 - out.t
        )
    return replace(out, **{k: v.contiguous() for k, v in vars(out).items() if isinstance(v, torch.Tensor)})


def _flip(sample: Sample, axis: int, component: int) -> Sample:
    def flow(f: torch.Tensor) -> torch.Tensor:
        f = f.flip(axis)
        sign = torch.ones(2, 1, 1, dtype=f.dtype)
        sign[component] = -1
        return f * sign

    return replace(
        sample,
        frame1=sample.frame1.flip(axis),
        frame2=sample.frame2.flip(axis),
        frame3=sample.frame3.flip(axis),
        flow13=flow(sample.flow13),
        flow31=flow(sample.flow31),
    )
