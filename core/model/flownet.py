"""RFR flow network (AnimeInterp's RAFT variant), optionally with GMA attention (AFI).

The network refines an optional coarse init flow (from SGM) at 1/8 resolution for a fixed
number of iterations and upsamples the result with learned convex combinations. It reproduces
the original computation including the quirks listed in ``compat.py``:

* frames are bilinearly resized to H, W rounded *down* to multiples of 8 and the flow is rescaled
  and resized back (quirk 4);
* the init flow is nearest-downsampled to the 1/8 grid (quirk 6) and added twice (quirk 2);
* the context comes from the feature encoder, so it equals the first frame's features (quirk 8).

Frames smaller than 128 px per side (where the original gives NaN) are padded internally.
Frames are expected in [-1, 1] (quirk 5; :func:`..interpolator.to_signed`).

The correlation volume and the GMA map are quadratic in the pixels; :attr:`FlowNet.memory`
(:class:`.memory.MemoryOptions`) chooses, per call, between them and their linear-memory forms.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..progress import checkpoint
from .attention import ContextAttention, EfficientAttention, FullAttention
from .compat import CHECKPOINT_COMPAT, CheckpointCompat
from .corr import CorrelationPyramid, OnDemandCorrelation
from .encoder import FeatureEncoder
from .memory import MemoryOptions
from .padding import CentredPadding
from .update import GatesContext, UpdateBlock
from .upsample import convex_upsample

MIN_FLOW_SIDE = 128
"""Smallest side the original computation supports: the 1/8 grid needs >= 16 cells so that the
4-level correlation pyramid keeps >= 2 cells per side. Smaller frames are padded up to this."""

HIDDEN = 128
CONTEXT = 128

ITERATION_LAYOUT = torch.channels_last
"""Memory format of the refinement loop: oneDNN's convolutions are 5-10% faster in NHWC on CPU,
and the correlation samples come out in that layout anyway."""


@dataclass
class FlowPair:
    """Flows of a frame pair in both directions.

    Attributes:
        flow12, flow21: ``(N, 2, H, W)`` float32 flows in pixels (ch0 = x), frame 1 -> 2 and 2 -> 1.
        init12_low, init21_low: ``(N, 2, H8/8, W8/8)`` init flows as downsampled on the 1/8 grid
            (the original's ``F12in``/``F21in``), or None without an init flow.
    """

    flow12: torch.Tensor
    flow21: torch.Tensor
    init12_low: torch.Tensor | None
    init21_low: torch.Tensor | None


def coords_grid(batch: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``(batch, 2, height, width)`` float pixel coordinates, channel 0 = x, 1 = y."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                            indexing="ij")
    return torch.stack([xs, ys], dim=0).float()[None].repeat(batch, 1, 1, 1)


def downsample_init(flow_init: torch.Tensor, grid_h: int, grid_w: int) -> torch.Tensor:
    """Full-resolution init flow -> 1/8-grid flow (quirk 6).

    Legacy nearest interpolation (source index ``floor(dst * in / out)``) to ``(grid_h, grid_w)``,
    then x scaled by ``grid_w / W`` and y by ``grid_h / H`` (in that operation order).
    """
    low = F.interpolate(flow_init, size=(grid_h, grid_w), mode="nearest")
    x = low[:, :1] * (grid_w * 1.0) / flow_init.shape[3]
    y = low[:, 1:] * (grid_h * 1.0) / flow_init.shape[2]
    return torch.cat([x, y], dim=1)


class FlowNet(nn.Module):
    """RFR (``global_motion=False``, AnimeInterp) or RFR+GMA (``global_motion=True``, AFI).

    Args:
        encoder_norm: ``"none"`` (AnimeInterp) or ``"instance"`` (AFI).
        global_motion: add the GMA attention / aggregation branch.
        compat: numerics knobs (:data:`~.compat.CHECKPOINT_COMPAT` reproduces the checkpoints).

    Attributes:
        memory: correlation / attention modes (:class:`~.memory.MemoryOptions`; default auto).
    """

    def __init__(self, encoder_norm: str = "instance", global_motion: bool = True,
                 compat: CheckpointCompat = CHECKPOINT_COMPAT) -> None:
        super().__init__()
        self.compat = compat
        self.encoder = FeatureEncoder(encoder_norm, HIDDEN + CONTEXT)
        self.attention = ContextAttention(CONTEXT) if global_motion else None
        self.update = UpdateBlock(global_motion, HIDDEN, CONTEXT)
        self.memory = MemoryOptions()

    def forward(self, image1: torch.Tensor, image2: torch.Tensor,
                flow_init: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flow from ``image1`` to ``image2``.

        Args:
            image1, image2: ``(N, 3, H, W)`` frames in [-1, 1], any H, W >= 1.
            flow_init: optional ``(N, 2, H, W)`` init flow in pixels (SGM).

        Returns:
            ``(flow (N, 2, H, W), init_low (N, 2, H8/8, W8/8) or None)``.
        """
        _check_inputs(image1, image2, flow_init, None)
        return self._flows(image1, image2, [flow_init])[0]

    def bidirectional(self, image1: torch.Tensor, image2: torch.Tensor,
                      init12: torch.Tensor | None = None, init21: torch.Tensor | None = None,
                      encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> FlowPair:
        """Flows 1 -> 2 and 2 -> 1; each frame is encoded only once.

        Args:
            image1, image2: ``(N, 3, H, W)`` frames in [-1, 1], any H, W >= 1.
            init12, init21: optional ``(N, 2, H, W)`` init flows in pixels.
            encoded: both frames' :meth:`encode` outputs when already at hand (a frame shared with
                the previous pair of a clip); None encodes them here.
        """
        _check_inputs(image1, image2, init12, init21)
        (flow12, low12), (flow21, low21) = self._flows(image1, image2, [init12, init21], encoded)
        return FlowPair(flow12, flow21, low12, low21)

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """One frame ``(N, 3, H, W)`` in [-1, 1] -> its encoder features ``(N, 256, h, w)``, exactly as
        :meth:`bidirectional` computes them (padded below :data:`MIN_FLOW_SIDE`, then resized as
        in :meth:`encode_pair`)."""
        h, w = image.shape[-2:]
        return self._encode_padded(CentredPadding.to_valid_size(h, w, min_side=MIN_FLOW_SIDE).pad(image))

    def _flows(self, image1: torch.Tensor, image2: torch.Tensor, inits: list[torch.Tensor | None],
               encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """``(flow, init_low)`` for 1 -> 2 (``inits[0]``) and, with a second entry, 2 -> 1.

        Frames below :data:`MIN_FLOW_SIDE` are replicate-padded (centred) and flows cropped back.
        """
        h, w = image1.shape[-2:]
        padding = CentredPadding.to_valid_size(h, w, min_side=MIN_FLOW_SIDE)
        image1, image2 = padding.pad(image1), padding.pad(image2)
        fmaps = encoded if encoded is not None else self.encode_pair(image1, image2)
        size = tuple(image1.shape[-2:])
        results = []
        for source, init in enumerate(inits):
            flow, init_low = self.refine(fmaps[source], fmaps[1 - source], padding.pad(init), size)
            results.append((padding.crop(flow), init_low))
        return results

    def encode_pair(self, image1: torch.Tensor, image2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both frames -> ``(N, 256, H8/8, W8/8)`` features each.

        Frames are first resized bilinearly to H8 x W8, H and W rounded down to multiples of 8
        (quirk 4; a no-op when they already are). The original encodes the two frames as one batch;
        here they go one after the other (instance norm is per sample, and so are the convolutions:
        the same values up to oneDNN's choice of kernel per batch size, bit for bit on the
        development machine from the flow net's 128 px up), for about half the encoder's peak
        memory, which is most of the estimate's at 1920x1080.
        """
        return self._encode_padded(image1), self._encode_padded(image2)

    def _encode_padded(self, image: torch.Tensor) -> torch.Tensor:
        """A frame of a valid size, resized to H8 x W8 (when it is not already) and encoded."""
        h, w = image.shape[-2:]
        h8, w8 = h // 8 * 8, w // 8 * 8
        if (h8, w8) != (h, w):
            image = F.interpolate(image, size=(h8, w8), mode="bilinear", align_corners=False)
        return self.encoder(image.contiguous()).float()

    def refine(self, fmap1: torch.Tensor, fmap2: torch.Tensor, flow_init: torch.Tensor | None,
               size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Iterative refinement from encoded features; returns the flow at ``size`` (= H, W).

        Args:
            fmap1, fmap2: ``(N, 256, h, w)`` encoder features of the source / target frame.
            flow_init: optional ``(N, 2, H, W)`` init flow in pixels.
            size: the frame size ``(H, W)`` the flow is returned at.

        Returns:
            ``(flow (N, 2, H, W), init_low (N, 2, h, w) or None)``.
        """
        height, width = size
        n, _, gh, gw = fmap1.shape
        init_low = downsample_init(flow_init, gh, gw) if flow_init is not None else None

        plan = self.memory.plan(n, gh, gw, fmap1.device, self.attention is not None,
                                self.compat.lookup_align_corners)
        lookup = OnDemandCorrelation if plan.on_demand else CorrelationPyramid
        corr = lookup(fmap1, fmap2, align_corners=self.compat.lookup_align_corners)
        hidden, context = torch.split(fmap1, [HIDDEN, CONTEXT], dim=1)  # quirk 8: context = fnet
        hidden = torch.tanh(hidden).contiguous(memory_format=ITERATION_LAYOUT)
        context = torch.relu(context).contiguous(memory_format=ITERATION_LAYOUT)
        attention = self.attention.prepare(context, plan.efficient) if self.attention is not None else None
        context_share = self.update.prepare(context)
        del context

        coords0 = coords_grid(n, gh, gw, fmap1.device).contiguous(memory_format=ITERATION_LAYOUT)
        coords1, hidden = self._iterate(coords0, init_low, corr, hidden, context_share, attention)
        del corr, attention, context_share  # the quadratic tensors go before the upsampling's
        # Only the last iteration's upsampled flow is used, so the mask is computed once here.
        mask = self.update.upsampling_mask(hidden).contiguous()
        flow = convex_upsample((coords1 - coords0).contiguous(), mask)
        return self._to_full_size(flow, height, width), init_low

    def _iterate(self, coords0: torch.Tensor, init_low: torch.Tensor | None,
                 corr: CorrelationPyramid | OnDemandCorrelation, hidden: torch.Tensor,
                 context_share: tuple[GatesContext, GatesContext],
                 attention: FullAttention | EfficientAttention | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The recurrent refinement; returns the final coordinates and hidden state."""
        coords1 = coords0
        if init_low is not None:
            # Quirk 2: the original adds the init flow before the loop and again in iteration 0.
            for _ in range(self.compat.init_flow_additions):
                coords1 = coords1 + init_low
        for i in range(self.compat.iterations):
            checkpoint("refine", i, self.compat.iterations)
            coords1 = coords1.detach()
            features = corr(coords1)
            hidden, delta = self.update(hidden, context_share, features, coords1 - coords0, attention)
            coords1 = coords1 + delta
        return coords1, hidden

    @staticmethod
    def _to_full_size(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(H8, W8) flow -> per-axis rescale to (H, W) units, bilinear resize to (H, W) (quirk 4).

        The rescale runs even when H8 = H (the original's ``x / W8 * W`` can move the last bit).
        """
        h8, w8 = flow.shape[-2:]
        flow = torch.cat([flow[:, :1] / (1.0 * w8) * width, flow[:, 1:] / (1.0 * h8) * height], dim=1)
        if (h8, w8) != (height, width):
            flow = F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=False)
        return flow


def _check_inputs(image1: torch.Tensor, image2: torch.Tensor, init12: torch.Tensor | None,
                  init21: torch.Tensor | None) -> None:
    if image1.ndim != 4 or image1.shape[1] != 3 or image1.shape != image2.shape:
        raise InputError(f"expected two (N, 3, H, W) frames of one shape; got {tuple(image1.shape)} "
                         f"and {tuple(image2.shape)}")
    n, _, h, w = image1.shape
    for name, flow in (("init12", init12), ("init21", init21)):
        if flow is not None and tuple(flow.shape) != (n, 2, h, w):
            raise InputError(f"{name}: expected an (N, 2, H, W) = {(n, 2, h, w)} flow; "
                             f"got {tuple(flow.shape)}")
