"""GridNet's building block, run on the whole picture or in row strips.

A block is ``[bilinear x2 ->] PReLU -> conv3x3 (stride 1 or 2) -> PReLU -> conv3x3``. Without
autograd, GridNet runs its blocks in horizontal strips of output rows: each strip is computed
from its input rows plus the context its two convolutions read (:data:`HALO` rows on each side).
No block-sized intermediate is then ever held: at 960x540 the largest, an up block's 64-channel
upsampled map (134 MB), becomes a few megabytes that stay in the CPU's cache and need no fresh
pages from the kernel. A strip's rows are the same arithmetic on the same values as the whole
picture's, so strips give the whole picture's bits (tested). With autograd recording, blocks run
on the whole picture and nothing is overwritten.

The three ways GridNet uses a block (:meth:`ConvBlock.fresh`, :meth:`~ConvBlock.residual`,
:meth:`~ConvBlock.add_to`) let it keep one tensor per grid row: a residual sum overwrites its
input, an up block adds into the row's tensor.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .inplace import prelu, recording

HALO = 2
"""Rows of context a strip needs on each side: two 3x3 convolutions read one row each."""
STRIP_BYTES = {"cpu": 8 * 2**20}
"""Largest strip intermediate per device type: on the CPU it stays in the L2/L3 cache (at 960x540,
strips of 16-64 rows ran 4-14 % faster than the whole picture; throwaway timing). Other devices
(no page faults, kernels that want more work per launch) use :data:`OTHER_STRIP_BYTES`."""
OTHER_STRIP_BYTES = 64 * 2**20
"""Strip budget off the CPU: a guess, not yet measured on a GPU (``bench/gpu_check.sh`` would)."""
MIN_STRIP_ROWS = 16
"""A strip computes 2 x :data:`HALO` extra rows per convolution; fewer rows would waste too much."""


class ConvBlock(nn.Module):
    """``[bilinear x2 ->] PReLU -> conv3x3 (stride) -> PReLU -> conv3x3``, ``(N, C_in, H, W)`` ->
    ``(N, C_out, H', W')`` with ``H' = 2H`` (upsample), ``ceil(H / 2)`` (stride 2) or ``H``.

    ``owned`` arguments: the input is the block's to overwrite (no one else uses it).

    Attributes:
        strip_bytes: the largest intermediate one strip may hold, or None (the default) for
            :data:`STRIP_BYTES` of the input's device.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.stride = stride
        self.act1 = nn.PReLU()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.act2 = nn.PReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.strip_bytes: int | None = None

    def forward(self, x: torch.Tensor, owned: bool = False) -> torch.Tensor:
        """The whole picture at once."""
        if self.upsample:
            x, owned = _upsampled(x), True
        return self._convolve(prelu(self.act1, x, owned))

    def fresh(self, x: torch.Tensor, owned: bool = False) -> torch.Tensor:
        """``block(x)`` as a new tensor, strip by strip."""
        if self._whole(x):
            return self(x, owned)
        out = None
        for top, bottom, rows in self._strips(x, owned):
            if out is None:
                shape = (*rows.shape[:2], self._out_height(x.shape[-2]), rows.shape[-1])
                out = torch.empty(shape, dtype=rows.dtype, device=rows.device, memory_format=torch.channels_last)
            out[..., top:bottom, :] = rows
        return out

    def add_to(self, target: torch.Tensor, x: torch.Tensor, owned: bool = False) -> torch.Tensor:
        """``block(x) + target``; without autograd ``target`` (a tensor nobody else holds) takes the
        sum, strip by strip (the same value: IEEE addition is commutative)."""
        if recording(target, x, self.conv1.weight):
            return self(x, owned) + target
        if self._whole(x):
            return target.add_(self(x, owned))
        for strip in self._strips(x, owned):
            _add_rows(target, *strip)
        return target

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        """``block(x) + x`` (stride 1, no upsampling); without autograd ``x`` (a tensor nobody else
        holds) takes the sum, strip by strip. A strip's sum is written once the next strip has
        read its input rows, whose context overlaps the rows just computed."""
        if self.upsample or self.stride != 1:
            raise ValueError("a residual sum needs a block that keeps the size")
        if recording(x, self.conv1.weight):
            return self(x) + x
        if self._whole(x):
            return self(x).add_(x)
        pending = None
        for strip in self._strips(x, False):
            if pending is not None:
                _add_rows(x, *pending)
            pending = strip
        _add_rows(x, *pending)
        return x

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        """conv1 -> PReLU -> conv2 on an activated input."""
        return self.conv2(prelu(self.act2, self.conv1(x), owned=True))

    def _out_height(self, height: int) -> int:
        return height * 2 if self.upsample else -(-height // self.stride)

    def _strip_rows(self, x: torch.Tensor) -> int:
        """Output rows per strip: a multiple of 4 (up-block crops start at even rows) whose largest
        intermediate (the activated input or a convolution's output) fits :attr:`strip_bytes`."""
        strip_bytes = self.strip_bytes
        if strip_bytes is None:
            strip_bytes = STRIP_BYTES.get(x.device.type, OTHER_STRIP_BYTES)
        n, channels, _, width = x.shape
        out_width = width * 2 if self.upsample else -(-width // self.stride)
        input_per_row = channels * width * (2 if self.upsample else self.stride)
        row_bytes = n * x.element_size() * max(input_per_row, self.conv1.out_channels * out_width)
        return max(MIN_STRIP_ROWS, strip_bytes // max(row_bytes, 1) // 4 * 4)

    def _whole(self, x: torch.Tensor) -> bool:
        """Whether to run on the whole picture: autograd records, or one strip covers it."""
        return recording(x, self.conv1.weight) or self._strip_rows(x) >= self._out_height(x.shape[-2])

    def _strips(self, x: torch.Tensor, owned: bool) -> Iterator[tuple[int, int, torch.Tensor]]:
        """``(top, bottom, rows)``: the block's output rows ``[top, bottom)``, one strip at a time.
        Each strip's input rows are read (copied, or activated into a new tensor) before it is
        yielded."""
        height = self._out_height(x.shape[-2])
        step = self._strip_rows(x)
        activated = not self.upsample and owned
        if activated:  # once for the whole input, in place: strips then read views of it
            x = prelu(self.act1, x, owned=True)
        for top in range(0, height, step):
            bottom = min(height, top + step)
            first, strip_input = self._strip_input(x, top, bottom)
            if not activated:
                strip_input = prelu(self.act1, strip_input, owned=self.upsample)
            if self.stride == 1:
                first, out = self._convolve_rows(strip_input, first, height)
            else:
                out = self._convolve(strip_input)
            yield top, bottom, out[..., top - first:bottom - first, :]

    def _convolve_rows(self, x: torch.Tensor, first: int, height: int) -> tuple[int, torch.Tensor]:
        """conv1 -> PReLU -> conv2 on activated rows ``[first, first + R)`` of a ``height``-row
        picture (stride 1), computing only the rows those rows fully determine: returns the first
        output row and the output rows."""
        first, y = _valid_rows(self.conv1, x, first, height)
        return _valid_rows(self.conv2, prelu(self.act2, y, owned=True), first, height)

    def _strip_input(self, x: torch.Tensor, top: int, bottom: int) -> tuple[int, torch.Tensor]:
        """The input rows output rows ``[top, bottom)`` need, and the first output row they give.

        Stride 1: input rows ``[top - HALO, bottom + HALO)`` (clipped to the picture; a strip at the
        picture's edge gets the convolution's zero padding like the whole picture). Stride 2: input
        rows from the even row ``2 * (top - HALO)``, so the strip's stride keeps the picture's
        phase. Upsampling: the half-size rows under the strip's upsampled rows and their
        neighbours, upsampled (from an even row, the same weights as the whole picture's), then
        cut to the strip's rows and halo.
        """
        height = x.shape[-2]
        if self.stride == 2:
            first = max(0, top - HALO)
            return first, x[..., 2 * first:min(height, 2 * bottom + HALO), :]
        if not self.upsample:
            first = max(0, top - HALO)
            return first, x[..., first:min(height, bottom + HALO), :]
        out_height = 2 * height
        first, last = max(0, top - HALO), min(out_height, bottom + HALO)
        source_first = max(0, first // 2 - 1)
        source = x[..., source_first:min(height, (last + 1) // 2 + 1), :]
        offset = first - 2 * source_first
        return first, _upsampled(source)[..., offset:offset + last - first, :]


def _valid_rows(conv: nn.Conv2d, x: torch.Tensor, first: int, height: int) -> tuple[int, torch.Tensor]:
    """A 3x3, stride-1 ``conv`` on rows ``[first, first + R)`` of a ``height``-row picture -> its
    output rows that equal the whole picture's, and the first of them: a strip inside the picture
    loses a row on each side (no vertical padding: nothing is computed for the rows it would
    spoil); at the picture's top or bottom the zero padding is the picture's own."""
    last = first + x.shape[-2]
    top_edge, bottom_edge = first == 0, last == height
    if not (top_edge or bottom_edge):
        return first + 1, F.conv2d(x, conv.weight, conv.bias, padding=(0, 1))
    y = conv(x)  # padding 1 on every side: right at the picture's edges, one spoilt row elsewhere
    return first + (not top_edge), y[..., (not top_edge):y.shape[-2] - (not bottom_edge), :]


def _upsampled(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2, ``align_corners=False`` (the original's upsampling)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _add_rows(target: torch.Tensor, top: int, bottom: int, rows: torch.Tensor) -> None:
    """``target[..., top:bottom, :] += rows``."""
    target[..., top:bottom, :] += rows
