"""The recurrent update of the flow network: motion encoder, separable ConvGRU, flow and mask heads.

Two update blocks are used by the checkpoints:

* plain RFR (AnimeInterp): GRU input = context 128 + motion 128 (GRU convs see 128 + 256 = 384);
* RFR+GMA (AFI): GRU input = context 128 + motion 128 + aggregated motion 128 (512).

Both are one :class:`UpdateBlock`; ``global_motion=True`` adds the GMA aggregator.

The context is the same in every iteration, so each GRU convolution's share of it (a quarter of
the GMA GRU's arithmetic) is computed once per flow-net call (:meth:`UpdateBlock.prepare`) and
added to the convolution of the hidden state and the motion inputs: the same sums in another
order (float rounding only; the fixtures hold).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .attention import EfficientAttention, FullAttention, MotionAggregator
from .inplace import add_into


class MotionEncoder(nn.Module):
    """Correlation ``(N, 324, h, w)`` + flow ``(N, 2, h, w)`` -> motion features ``(N, 128, h, w)``.

    The last two output channels are the raw flow itself.
    """

    def __init__(self, corr_channels: int = 324) -> None:
        super().__init__()
        self.corr_conv1 = nn.Conv2d(corr_channels, 256, 1)
        self.corr_conv2 = nn.Conv2d(256, 192, 3, padding=1)
        self.flow_conv1 = nn.Conv2d(2, 128, 7, padding=3)
        self.flow_conv2 = nn.Conv2d(128, 64, 3, padding=1)
        self.fuse = nn.Conv2d(192 + 64, 128 - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.corr_conv2(F.relu(self.corr_conv1(corr))))
        f = F.relu(self.flow_conv2(F.relu(self.flow_conv1(flow))))
        out = F.relu(self.fuse(torch.cat([c, f], dim=1)))
        return torch.cat([out, flow], dim=1)


@dataclass
class GatesContext:
    """One GRU pass's fixed part for one flow-net call.

    Attributes:
        weights: each gate's kernel over the varying channels (hidden, then motion inputs).
        shares: each gate's convolution of the context, bias included, ``(N, hidden, h, w)``.
    """

    weights: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    shares: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class GRUGates(nn.Module):
    """One ConvGRU pass with a (1 x k) or (k x 1) kernel.

    ``z = sigmoid(Wz [h, x])``, ``r = sigmoid(Wr [h, x])``, ``q = tanh(Wq [r*h, x])``,
    ``h' = (1 - z) h + z q``, where ``x = [context, motion inputs]`` and each gate's context share
    comes precomputed (:meth:`prepare`).
    """

    def __init__(self, hidden: int, inputs: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.hidden = hidden
        self.padding = (kernel[0] // 2, kernel[1] // 2)
        self.update = nn.Conv2d(hidden + inputs, hidden, kernel, padding=self.padding)
        self.reset = nn.Conv2d(hidden + inputs, hidden, kernel, padding=self.padding)
        self.candidate = nn.Conv2d(hidden + inputs, hidden, kernel, padding=self.padding)

    def prepare(self, context: torch.Tensor) -> GatesContext:
        """``(N, C, h, w)`` context (the first C input channels) -> the pass's fixed part."""
        split = (self.hidden, self.hidden + context.shape[1])
        weights, shares = [], []
        for conv in (self.update, self.reset, self.candidate):
            kernel = conv.weight
            weights.append(torch.cat([kernel[:, :split[0]], kernel[:, split[1]:]], dim=1))
            shares.append(F.conv2d(context, kernel[:, split[0]:split[1]], conv.bias, padding=self.padding))
        return GatesContext(tuple(weights), tuple(shares))

    def forward(self, h: torch.Tensor, motion: torch.Tensor, fixed: GatesContext) -> torch.Tensor:
        """Hidden ``(N, hidden, h, w)`` and motion inputs ``(N, M, h, w)`` -> new hidden."""
        hx = torch.cat([h, motion], dim=1)
        z = torch.sigmoid(self._gate(hx, fixed, 0))
        r = torch.sigmoid(self._gate(hx, fixed, 1))
        del hx
        q = torch.tanh(self._gate(torch.cat([r * h, motion], dim=1), fixed, 2))
        return (1 - z) * h + z * q

    def _gate(self, inputs: torch.Tensor, fixed: GatesContext, gate: int) -> torch.Tensor:
        out = F.conv2d(inputs, fixed.weights[gate], padding=self.padding)
        return add_into(out, fixed.shares[gate])


class SepConvGRU(nn.Module):
    """Separable ConvGRU: a horizontal (1x5) pass, then a vertical (5x1) pass.

    Inputs: hidden ``(N, hidden, h, w)``, inputs ``(N, inputs, h, w)`` = context then motion
    inputs, the context given once to :meth:`prepare`. Output: new hidden.
    """

    def __init__(self, hidden: int = 128, inputs: int = 256) -> None:
        super().__init__()
        self.horizontal = GRUGates(hidden, inputs, (1, 5))
        self.vertical = GRUGates(hidden, inputs, (5, 1))

    def prepare(self, context: torch.Tensor) -> tuple[GatesContext, GatesContext]:
        """Both passes' fixed parts for a context ``(N, C, h, w)`` (the first C input channels)."""
        return self.horizontal.prepare(context), self.vertical.prepare(context)

    def forward(self, h: torch.Tensor, motion: torch.Tensor, fixed: tuple[GatesContext, GatesContext]
                ) -> torch.Tensor:
        """Hidden and motion inputs (the inputs after the context) -> new hidden."""
        return self.vertical(self.horizontal(h, motion, fixed[0]), motion, fixed[1])


class FlowHead(nn.Module):
    """Hidden state ``(N, 128, h, w)`` -> flow update ``(N, 2, h, w)`` in 1/8-grid pixels."""

    def __init__(self, hidden: int = 128, mid: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(hidden, mid, 3, padding=1)
        self.conv2 = nn.Conv2d(mid, 2, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(h)))


class MaskHead(nn.Module):
    """Hidden state -> convex-upsampling logits ``(N, 9 * 8 * 8, h, w)``, scaled by 0.25."""

    def __init__(self, hidden: int = 128, mid: int = 256, factor: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(hidden, mid, 3, padding=1)
        self.conv2 = nn.Conv2d(mid, 9 * factor * factor, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return 0.25 * self.conv2(F.relu(self.conv1(h)))


class UpdateBlock(nn.Module):
    """One refinement step: (hidden, context, corr, flow[, attention]) -> (hidden, delta_flow).

    The convex-upsampling mask is a separate call (:meth:`upsampling_mask`) because only the
    last iteration's mask is ever used.
    """

    def __init__(self, global_motion: bool, hidden: int = 128, context: int = 128,
                 corr_channels: int = 324) -> None:
        super().__init__()
        self.motion = MotionEncoder(corr_channels)
        self.aggregator = MotionAggregator(128) if global_motion else None
        gru_inputs = context + 128 + (128 if global_motion else 0)
        self.gru = SepConvGRU(hidden, gru_inputs)
        self.flow_head = FlowHead(hidden)
        self.mask_head = MaskHead(hidden)

    def prepare(self, context: torch.Tensor) -> tuple[GatesContext, GatesContext]:
        """The context's part of every iteration, computed once: ``(N, 128, h, w)`` -> the GRU's
        fixed parts (give them to :meth:`forward` as ``context_share``)."""
        return self.gru.prepare(context)

    def forward(self, hidden: torch.Tensor, context_share: tuple[GatesContext, GatesContext], corr: torch.Tensor,
                flow: torch.Tensor, attention: FullAttention | EfficientAttention | torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden ``(N, 128, h, w)``, the context's share (:meth:`prepare`), correlation ``(N, 324, h, w)``, flow
        ``(N, 2, h, w)`` -> ``(new hidden, flow update (N, 2, h, w))``."""
        motion = self.motion(flow, corr)
        if self.aggregator is not None:
            if attention is None:
                raise ValueError("this update block needs the GMA attention map")
            motion = torch.cat([motion, self.aggregator(attention, motion)], dim=1)
        hidden = self.gru(hidden, motion, context_share)
        return hidden, self.flow_head(hidden)

    def upsampling_mask(self, hidden: torch.Tensor) -> torch.Tensor:
        """Convex-upsampling logits for the current hidden state, ``(N, 576, h, w)``."""
        return self.mask_head(hidden)
