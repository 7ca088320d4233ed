"""Internal padding that lets the model take any frame size.

The original networks only work for some sizes (ARCHITECTURE.md §12): the flow network gives
NaN flows when a side is below 128 px (the coarsest correlation level collapses to one cell), and
GridNet needs sides that are multiples of 4. Frames (and flows) are therefore replicate-padded,
centred, to the nearest valid size, and results are cropped back. Sizes that are already valid
are not touched, so there the original computation runs unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class CentredPadding:
    """Replicate padding ``(top, bottom, left, right)`` around an ``H x W`` image, and its crop."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    @classmethod
    def to_valid_size(cls, height: int, width: int, min_side: int = 1, multiple: int = 1
                      ) -> CentredPadding:
        """Smallest centred padding giving sides ``>= min_side`` that are multiples of ``multiple``."""
        ph = _round_up(max(height, min_side), multiple) - height
        pw = _round_up(max(width, min_side), multiple) - width
        return cls(ph // 2, ph - ph // 2, pw // 2, pw - pw // 2)

    @property
    def is_identity(self) -> bool:
        return self.top == self.bottom == self.left == self.right == 0

    def pad(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """``(N, C, H, W)`` -> ``(N, C, H + top + bottom, W + left + right)``, edge values repeated."""
        if x is None or self.is_identity:
            return x
        return F.pad(x, (self.left, self.right, self.top, self.bottom), mode="replicate")

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`pad` on the last two dimensions."""
        if self.is_identity:
            return x
        h, w = x.shape[-2:]
        return x[..., self.top:h - self.bottom, self.left:w - self.right]
