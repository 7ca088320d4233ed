"""GridNet synthesis network, GridNet(6, 64, 128, 192, 3) as trained by AnimeInterp / AFI.

Three rows (32 ch at full, 64 ch at 1/2, 96 ch at 1/4 resolution) and four columns: two on the
downsampling side (0, 1) and two on the upsampling side (4, 5); the usual middle columns 2-3 are
absent. Node ``Xrc`` is row r, column c (ARCHITECTURE.md §2.4)::

    X00 = head_frames(x) + head_level1(f1)      X01 = lateral01(X00) + X00
    X10 = down10(X00) + head_level2(f2)         X11 = lateral11(X10) + X10 + down11(X01)
    X20 = down20(X10) + head_level3(f3)         X21 = lateral21(X20) + X20 + down21(X11)
    X24 = lateral24(X21) + X21                  X25 = lateral25(X24) + X24
    X14 = up14(X24) + lateral14(X11) + X11      X15 = up15(X25) + lateral15(X14) + X14
    X04 = up04(X14) + lateral04(X01) + X01      X05 = up05(X15) + lateral05(X04) + X04
    out = tail(X05)                             (no final activation)

Every block is PReLU -> conv3x3 -> PReLU -> conv3x3 (no inner skip); down blocks use stride 2 in
the first conv, up blocks first upsample bilinearly x2 (align_corners=False). H and W must be
multiples of 4. Additions are done in the original order (it fixes float rounding).

The network runs in ``channels_last`` memory format (about 1.5x faster with oneDNN on CPU; the
result differs from NCHW by float rounding only, ~1e-7) and returns a contiguous NCHW tensor.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .inplace import add_into, prelu


class ConvBlock(nn.Module):
    """[bilinear x2 ->] PReLU -> conv3x3 (stride) -> PReLU -> conv3x3."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.act1 = nn.PReLU()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.act2 = nn.PReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, owned: bool = False) -> torch.Tensor:
        """``owned``: ``x`` is this block's to overwrite (no one else uses it)."""
        if self.upsample:
            x, owned = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False), True
        return self.conv2(prelu(self.act2, self.conv1(prelu(self.act1, x, owned)), owned=True))


class GridNet(nn.Module):
    """Warped frames + warped feature pyramids -> interpolated frame.

    Inputs: ``frames (N, 6, H, W)``, ``f1 (N, 64, H, W)``, ``f2 (N, 128, H/2, W/2)``,
    ``f3 (N, 192, H/4, W/4)``; H, W multiples of 4.
    Output: ``(N, 3, H, W)`` frame, unclamped (roughly [0, 1]).
    """

    def __init__(self, frame_channels: int = 6, level_channels: tuple[int, int, int] = (64, 128, 192),
                 out_channels: int = 3) -> None:
        super().__init__()
        c0, c1, c2 = 32, 64, 96
        self.head_frames = ConvBlock(frame_channels, c0)
        self.head_level1 = ConvBlock(level_channels[0], c0)
        self.head_level2 = ConvBlock(level_channels[1], c1)
        self.head_level3 = ConvBlock(level_channels[2], c2)
        self.lateral01, self.lateral04, self.lateral05 = (ConvBlock(c0, c0) for _ in range(3))
        self.lateral11, self.lateral14, self.lateral15 = (ConvBlock(c1, c1) for _ in range(3))
        self.lateral21, self.lateral24, self.lateral25 = (ConvBlock(c2, c2) for _ in range(3))
        self.down10 = ConvBlock(c0, c1, stride=2)
        self.down11 = ConvBlock(c0, c1, stride=2)
        self.down20 = ConvBlock(c1, c2, stride=2)
        self.down21 = ConvBlock(c1, c2, stride=2)
        self.up04 = ConvBlock(c1, c0, upsample=True)
        self.up05 = ConvBlock(c1, c0, upsample=True)
        self.up14 = ConvBlock(c2, c1, upsample=True)
        self.up15 = ConvBlock(c2, c1, upsample=True)
        self.tail = ConvBlock(c0, out_channels)

    def forward(self, frames: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor, f3: torch.Tensor
                ) -> torch.Tensor:
        return self._run(iter((frames, f1, f2, f3)), owned=False)

    def consume(self, inputs: Iterator[torch.Tensor]) -> torch.Tensor:
        """Like :meth:`forward` on ``frames, f1, f2, f3`` given one at a time by ``inputs`` (e.g. a
        generator that warps each when asked), which hands them over: each is made when it is
        needed and may be overwritten, so that at most one full-size input lives at a time (the
        warped inputs are as large as the network's own activations)."""
        return self._run(inputs, owned=True)

    def _run(self, inputs: Iterator[torch.Tensor], owned: bool) -> torch.Tensor:
        def take() -> torch.Tensor:
            try:
                x = next(inputs)
            except StopIteration:
                raise ValueError("expected four inputs: frames, f1, f2, f3") from None
            return x.contiguous(memory_format=torch.channels_last)

        # Nodes are dropped as soon as they are no longer needed (full-resolution ones are large).
        # Every sum's left operand is a fresh block output, so without autograd it takes the sum in
        # place (same values: one addition each, in the original's order; no fresh full-size block).
        x00 = add_into(self.head_frames(take(), owned), self.head_level1(take(), owned))
        x01 = add_into(self.lateral01(x00), x00)
        x10 = add_into(self.down10(x00), self.head_level2(take(), owned))
        del x00
        x20 = add_into(self.down20(x10), self.head_level3(take(), owned))
        x11 = add_into(add_into(self.lateral11(x10), x10), self.down11(x01))
        del x10
        x21 = add_into(add_into(self.lateral21(x20), x20), self.down21(x11))
        del x20
        x24 = add_into(self.lateral24(x21), x21)
        del x21
        x25 = add_into(self.lateral25(x24), x24)
        x14 = add_into(self.up14(x24), add_into(self.lateral14(x11), x11))
        del x24, x11
        x04 = add_into(self.up04(x14), add_into(self.lateral04(x01), x01))
        del x01
        x15 = add_into(self.up15(x25), add_into(self.lateral15(x14), x14))
        del x25, x14
        x05 = add_into(self.up05(x15), add_into(self.lateral05(x04), x04))
        del x15, x04
        return self.tail(x05).contiguous()
