"""The learned interpolator: flows once per frame pair, then any number of in-betweens.

Pipeline (ARCHITECTURE.md §1)::

    estimate(I1, I2, F12i, F21i)     -> PairState: flows F12, F21 (RFR[+GMA]) and the feature
                                        pyramids of both frames, computed once per pair
    synthesize(state, t)             -> It: splat frames + features to time t (t*F12 and
                                        (1-t)*F21), then GridNet

The original model re-ran everything for each t; the flows and features do not depend on t, so
here they are computed once. :meth:`LearnedInterpolator.forward` keeps the original's signature
and outputs for tests and training.

Frames are ``(N, 3, H, W)`` float in [0, 1]; flows ``(N, 2, H, W)`` in pixels, channel 0 = x.
Any H, W: sizes the original cannot handle are padded internally (``padding.py``) and every
output comes back at the input size.
"""
from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from ..splat.forward import splat_average_pair
from .compat import CHECKPOINT_COMPAT, CheckpointCompat
from .features import FeaturePyramid
from .flow_scale import FlowScale, check_flow_scale, flow_scale_for, resize_flow, scaled_size, shrink_frames
from .flownet import FlowNet, FlowPair
from .gridnet import GridNet
from .memory import Budget, MemoryOptions
from .padding import CentredPadding
from .variants import get_variant

SYNTHESIS_MULTIPLE = 4
"""GridNet downsamples twice by 2 and upsamples back, so its input sides must be multiples of 4."""

SYNTHESIS_MARGIN = 52
"""Rows of context above and below each band (a multiple of 4): GridNet's receptive field reaches
46 rows (measured by perturbing one input row; 49 when that row is perturbed at every level, the
coarse levels' rows covering 2 or 4 frame rows; bands with margins of 48 and more give the whole
picture's rows bit for bit, 44 differ by 2e-8), so a band with this margin gives the rows it keeps
exactly as the whole picture would (up to the float rounding of convolution algorithms). It was 64:
at 3840x2160 the default bands then computed 1.9 times the picture's rows, now 1.6 times."""


@dataclass(frozen=True)
class SynthesisBand:
    """Output rows ``[top, bottom)`` of a band, computed from input rows ``[start, stop)``."""

    top: int
    bottom: int
    start: int
    stop: int

    def keep(self, output: torch.Tensor) -> torch.Tensor:
        """``(N, C, stop - start, W)`` band output -> its ``(N, C, bottom - top, W)`` kept rows."""
        return output[..., self.top - self.start:self.bottom - self.start, :]


def synthesis_bands(height: int, width: int, band_pixels: int) -> list[SynthesisBand]:
    """The fewest horizontal bands covering ``height`` rows such that no band computes more than
    ``band_pixels`` pixels, its :data:`SYNTHESIS_MARGIN` rows of context included (one band when
    the frame fits; bands of equal height otherwise, at least 4 rows each).

    ``height`` is a multiple of 4 and so are all band edges (the 1/4 level is sliced with them).
    """
    limit = band_pixels // max(width, 1)
    if height <= limit:
        return [SynthesisBand(0, height, 0, height)]
    count = 2
    while True:
        rows = -(-height // (4 * count)) * 4  # height / count, rounded up to a multiple of 4
        margins = SYNTHESIS_MARGIN * (2 if count > 2 else 1)
        if rows + margins <= limit or rows <= 4:
            break
        count += 1
    return [SynthesisBand(top, min(top + rows, height), max(0, top - SYNTHESIS_MARGIN),
                          min(height, top + rows + SYNTHESIS_MARGIN))
            for top in range(0, height, rows)]


AUTOCAST_DTYPES = (torch.float16, torch.bfloat16)
CPU_AUTOCAST_DTYPES = (torch.bfloat16,)
"""Autocast dtypes that run on the CPU (float16 is CUDA only)."""


def runs_on(dtype: torch.dtype, device_type: str) -> bool:
    """Whether the model runs in ``dtype`` on a ``device_type`` device: float32 everywhere, the
    :data:`AUTOCAST_DTYPES` under autocast on CUDA, bfloat16 also on the CPU, nothing else."""
    if dtype == torch.float32:
        return True
    return dtype in {"cuda": AUTOCAST_DTYPES, "cpu": CPU_AUTOCAST_DTYPES}.get(device_type, ())

Time = float | torch.Tensor


def to_signed(frames: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1] as ``(x - 0.5) / 0.5`` (quirk 5: input of the feature pyramid and flow net)."""
    return (frames - 0.5) / 0.5


def flow_to_level(flow: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Full-resolution flow -> flow for a feature level of size ``(height, width)`` (quirk 9).

    Legacy nearest resizing (picks the top-left pixel of each block), then x scaled by
    ``width / W`` and y by ``height / H``, computed as ``x * width / W`` like the original.
    """
    low = F.interpolate(flow, size=(height, width), mode="nearest")
    return torch.cat([low[:, :1] * width / flow.shape[3], low[:, 1:] * height / flow.shape[2]], dim=1)


@dataclass
class PairState:
    """Everything about a frame pair that does not depend on t.

    Attributes:
        flow12, flow21: ``(N, 2, H, W)`` flows frame 1 -> 2 and 2 -> 1 (pixels, ch0 = x).
        init12_low, init21_low: init flows on the 1/8 grid (``F12in``/``F21in``) or None.
        frame1, frame2: ``(N, 3, Hs, Ws)`` frames in [0, 1], padded to the synthesis size.
        features1, features2: feature pyramids of the padded frames (full, 1/2, 1/4 resolution).
        padding: the synthesis padding (identity when H, W are multiples of 4).
    """

    flow12: torch.Tensor
    flow21: torch.Tensor
    init12_low: torch.Tensor | None
    init21_low: torch.Tensor | None
    frame1: torch.Tensor
    frame2: torch.Tensor
    features1: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    features2: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    padding: CentredPadding

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the input frames."""
        return tuple(self.flow12.shape[-2:])


@dataclass(frozen=True)
class FrameEncoding:
    """The flow net's encoding of one frame (:meth:`LearnedInterpolator.encode_frame`): it does not
    depend on the other frame, so a clip's interior frame, in two pairs, is encoded once.

    Attributes:
        features: ``(N, 256, h, w)`` float32 encoder features (h, w: the flow net's 1/8 grid).
        frame_shape: ``(N, 3, H, W)`` of the frame encoded.
        key: :meth:`LearnedInterpolator.encoding_key` when it was made (the model, its encoder's
            weights, flow scale, autocast and device): an encoding is only used under the same key.
    """

    features: torch.Tensor
    frame_shape: tuple[int, ...]
    key: tuple


_INSTANCES = itertools.count()
"""Numbers the models, for :meth:`LearnedInterpolator.encoding_key` (an ``id`` can be reused)."""


class LearnedInterpolator(nn.Module):
    """AnimeInterp / AFI: flow net + feature pyramid + forward splatting + GridNet.

    Args:
        variant: ``"afi"`` (RFR+GMA) or ``"animeinterp"`` (RFR).
        compat: flow-net numerics knobs; the default reproduces the released checkpoints.
        correlation, attention, memory_budget: memory modes of the flow net, see
            :meth:`set_memory_options`.
        flow_scale: ``"auto"`` (default) or a number in (0, 1]: the frames the flow net sees are
            this much smaller than the picture (:mod:`.flow_scale`; auto shrinks only frames with
            more pixels than 1920x1088, so 1080p and smaller keep the original's numbers).

    Attributes:
        autocast_dtype: None (fp32, the default), or bfloat16 (CPU or CUDA) / float16 (CUDA) for
            autocast in :meth:`estimate` / :meth:`synthesize`.
        band_pixels: most pixels one synthesis band computes (:func:`synthesis_bands`), or None
            (the default) for the memory budget's share (:meth:`.MemoryOptions.synthesis_band_pixels`);
            smaller bands need less memory and repeat more margin rows.
    """

    def __init__(self, variant: str = "afi", compat: CheckpointCompat = CHECKPOINT_COMPAT,
                 correlation: str = "auto", attention: str = "auto", memory_budget: Budget = None,
                 flow_scale: FlowScale = "auto") -> None:
        super().__init__()
        spec = get_variant(variant)
        self.variant = spec.name
        self.flow_net = FlowNet(spec.encoder_norm, spec.global_motion, compat)
        self.features = FeaturePyramid()
        self.synthesis = GridNet()
        self.autocast_dtype: torch.dtype | None = None
        self.band_pixels: int | None = None
        self.flow_scale: FlowScale = check_flow_scale(flow_scale)
        self.set_memory_options(correlation, attention, memory_budget)
        self._instance = next(_INSTANCES)
        self._encoder_loads = 0
        self.flow_net.encoder.register_load_state_dict_post_hook(self._count_encoder_load)

    @property
    def memory(self) -> MemoryOptions:
        """The flow net's memory options (:class:`~.memory.MemoryOptions`)."""
        return self.flow_net.memory

    def set_memory_options(self, correlation: str | None = None, attention: str | None = None,
                           memory_budget: Budget = None) -> LearnedInterpolator:
        """Choose how the flow net holds its quadratic tensors (None keeps a setting).

        Args:
            correlation: ``"auto"``, ``"all-pairs"`` (volume once per pair) or ``"on-demand"``
                (lookups computed per iteration, memory linear in the pixels).
            attention: ``"auto"``, ``"full"`` (GMA map once per pair) or ``"efficient"``
                (recomputed blockwise per iteration, memory linear in the pixels).
            memory_budget: bytes the two may take in auto mode: a number, a string such as
                ``"2GB"``, or a callable ``device -> free bytes`` (inside ComfyUI:
                ``comfy.model_management.get_free_memory``); None keeps the current one
                (default: :func:`~.memory.default_budget`).

        Every mode gives the same numbers (up to float rounding). Returns ``self``.
        """
        self.flow_net.memory = self.flow_net.memory.updated(correlation, attention, memory_budget)
        return self

    # -- inference API ---------------------------------------------------------------------------

    @torch.inference_mode()
    def estimate(self, frame1: torch.Tensor, frame2: torch.Tensor, init12: torch.Tensor | None = None,
                 init21: torch.Tensor | None = None,
                 encoded: tuple[FrameEncoding, FrameEncoding] | None = None) -> PairState:
        """Flows in both directions and both feature pyramids, once per pair.

        Args:
            frame1, frame2: ``(N, 3, H, W)`` float frames in [0, 1], any H, W >= 1.
            init12, init21: optional ``(N, 2, H, W)`` coarse init flows in pixels (from SGM).
            encoded: both frames' :meth:`encode_frame` results when at hand (the same numbers as
                encoding them here); None encodes them here.

        Returns:
            A :class:`PairState` for :meth:`synthesize`.
        """
        frame1, frame2, init12, init21 = _check_frames(frame1, frame2, init12, init21)
        features = None if encoded is None else self._encoded_features(encoded, frame1.shape, frame1.device)
        with self._autocast(frame1.device):
            return self.pair_state(frame1, frame2, init12, init21, features)

    @torch.inference_mode()
    def encode_frame(self, frame: torch.Tensor) -> FrameEncoding:
        """The flow net's encoding of one ``(N, 3, H, W)`` frame in [0, 1], for :meth:`estimate`'s
        ``encoded`` (the frame shrunk by the flow scale, as :meth:`flow_pair` does)."""
        _check_frame("frame", frame)
        frame = frame.float()
        with self._autocast(frame.device):
            features = self.flow_net.encode(to_signed(self._flow_net_frames(frame)))
        return FrameEncoding(features, tuple(frame.shape), self.encoding_key(frame.device))

    def encoding_key(self, device: torch.device | str | None = None) -> tuple:
        """Everything besides the frame that :meth:`encode_frame` depends on: this model, its
        encoder's weights, the flow scale, the autocast dtype and the device.

        The weights count as changed when a state dict is loaded into the encoder (through the
        model or the encoder itself) and, outside inference mode, after any in-place change of a
        parameter (an optimiser step); parameters made in inference mode carry no version counter.
        """
        try:
            versions = tuple(p._version for p in self.flow_net.encoder.parameters())
        except RuntimeError:  # inference tensors (a model built in inference mode) have no version
            versions = None
        device = torch.device(device) if device is not None else next(self.parameters()).device
        return self._instance, self._encoder_loads, versions, self.flow_scale, self.autocast_dtype, str(device)

    def _count_encoder_load(self, _module: nn.Module, _incompatible) -> None:
        self._encoder_loads += 1

    def _encoded_features(self, encoded: tuple[FrameEncoding, FrameEncoding], shape: torch.Size,
                          device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The features of two :class:`FrameEncoding` checked against the frames and the model."""
        if len(encoded) != 2 or not all(isinstance(e, FrameEncoding) for e in encoded):
            raise InputError("encoded: expected the two frames' FrameEncoding (LearnedInterpolator.encode_frame)")
        key = self.encoding_key(device)
        for name, encoding in zip(("frame1", "frame2"), encoded):
            if encoding.frame_shape != tuple(shape):
                raise InputError(f"encoded: the {name} encoding is of a {encoding.frame_shape} frame, "
                                 f"not {tuple(shape)}")
            if encoding.key != key:
                raise InputError(f"encoded: the {name} encoding was made by another model, other weights or "
                                 "other settings (flow scale, autocast, device); encode the frame again")
        return encoded[0].features, encoded[1].features

    @torch.inference_mode()
    def synthesize(self, state: PairState, t: Time) -> torch.Tensor:
        """The in-between at time ``t`` in [0, 1] (float, or a tensor with one t per sample).

        Returns:
            ``(N, 3, H, W)`` float32 frame, raw GridNet output (unclamped, like the original).
        """
        with self._autocast(state.frame1.device):
            return self.render(state, t).float()

    # -- differentiable building blocks ------------------------------------------------------------

    def pair_state(self, frame1: torch.Tensor, frame2: torch.Tensor, init12: torch.Tensor | None = None,
                   init21: torch.Tensor | None = None,
                   encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> PairState:
        """Like :meth:`estimate`, without input checks, inference mode or autocast (``encoded``: the
        frames' encoder features, unchecked)."""
        flows = self.flow_pair(frame1, frame2, init12, init21, encoded)
        return self.state_from_flows(frame1, frame2, flows.flow12, flows.flow21, flows.init12_low, flows.init21_low)

    def flow_pair(self, frame1: torch.Tensor, frame2: torch.Tensor, init12: torch.Tensor | None = None,
                  init21: torch.Tensor | None = None,
                  encoded: tuple[torch.Tensor, torch.Tensor] | None = None) -> FlowPair:
        """Both flows ``(N, 2, H, W)`` px at the frames' size, from the flow net. Where
        :func:`.flow_scale_for` gives a scale below 1 (auto: frames above 1920x1088 pixels), the flow
        net sees the frames shrunk by it (area average; init flows nearest-shrunk) and its flows are
        enlarged back (bilinear, values scaled); ``init*_low`` then lie on the shrunk frames' 1/8 grid.
        ``encoded``: the frames' encoder features (:meth:`encode_frame`) when at hand."""
        h, w = frame1.shape[-2:]
        if flow_scale_for(h, w, self.flow_scale) == 1.0:
            return self.flow_net.bidirectional(to_signed(frame1), to_signed(frame2), init12, init21, encoded=encoded)
        n = frame1.shape[0]
        small = self._flow_net_frames(torch.cat([frame1, frame2]))
        size = tuple(small.shape[-2:])
        inits = [None if f is None else resize_flow(f, size, "nearest") for f in (init12, init21)]
        flows = self.flow_net.bidirectional(to_signed(small[:n]), to_signed(small[n:]), *inits, encoded=encoded)
        return FlowPair(resize_flow(flows.flow12, (h, w)), resize_flow(flows.flow21, (h, w)),
                        flows.init12_low, flows.init21_low)

    def _flow_net_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` frames in [0, 1] as the flow net sees them: shrunk by
        :func:`.flow_scale_for` where it is below 1 (area average, per sample), else as they are."""
        h, w = frames.shape[-2:]
        scale = flow_scale_for(h, w, self.flow_scale)
        return frames if scale == 1.0 else shrink_frames(frames, scaled_size(h, w, scale))

    def state_from_flows(self, frame1: torch.Tensor, frame2: torch.Tensor, flow12: torch.Tensor,
                         flow21: torch.Tensor, init12_low: torch.Tensor | None = None,
                         init21_low: torch.Tensor | None = None) -> PairState:
        """The pair state for given flows ``(N, 2, H, W)`` px: frames padded for synthesis and
        both feature pyramids (no flow net; no inference mode or autocast)."""
        h, w = frame1.shape[-2:]
        padding = CentredPadding.to_valid_size(h, w, multiple=SYNTHESIS_MULTIPLE)
        # channels_last: splatting adds whole pixel rows of C values (faster, same values) and
        # GridNet runs in that format anyway
        features1 = tuple(_pixel_rows(f) for f in self.features(padding.pad(to_signed(frame1))))
        features2 = tuple(_pixel_rows(f) for f in self.features(padding.pad(to_signed(frame2))))
        return PairState(flow12, flow21, init12_low, init21_low, padding.pad(frame1), padding.pad(frame2),
                         features1, features2, padding)

    def render(self, state: PairState, t: Time) -> torch.Tensor:
        """Like :meth:`synthesize`, without inference mode or autocast (may return half under autocast).

        Large frames are synthesised in horizontal bands (:func:`synthesis_bands`): each band's
        GridNet inputs are splatted for its rows only, so that neither the warped inputs nor
        GridNet's activations are ever held for the whole picture.
        """
        t = _as_time(t, state.frame1)
        flow1t = t * state.padding.pad(state.flow12)
        flow2t = (1 - t) * state.padding.pad(state.flow21)
        levels = [(state.frame1, state.frame2, flow1t, flow2t, 1)]
        for level1, level2 in zip(state.features1, state.features2, strict=True):
            h, w = level1.shape[-2:]
            # Like the original, every feature level (the full-resolution one too) gets its flow
            # through flow_to_level.
            scale = state.frame1.shape[-1] // w
            levels.append((level1, level2, flow_to_level(flow1t, h, w), flow_to_level(flow2t, h, w), scale))
        height, width = state.frame1.shape[-2:]
        bands = []
        band_pixels = self.band_pixels or self.memory.synthesis_band_pixels(state.frame1.device, height * width)
        for band in synthesis_bands(height, width, band_pixels):
            inputs = (splat_average_pair(values1, values2, level_flow1t, level_flow2t,
                                         rows=(band.start // scale, band.stop // scale))
                      for values1, values2, level_flow1t, level_flow2t, scale in levels)
            bands.append(band.keep(self.synthesis.consume(inputs)))  # warps each level when needed
        return state.padding.crop(bands[0] if len(bands) == 1 else torch.cat(bands, dim=2))

    def synthesize_in_bands(self, frames: torch.Tensor, f1: torch.Tensor, f2: torch.Tensor, f3: torch.Tensor,
                            band_pixels: int) -> torch.Tensor:
        """GridNet on horizontal bands of already warped inputs (:func:`synthesis_bands`): the
        same result as one call, bounded activations.

        Inputs and output as :class:`.gridnet.GridNet` (``H``, ``W`` multiples of 4).
        """
        bands = []
        for band in synthesis_bands(frames.shape[-2], frames.shape[-1], band_pixels):
            start, stop = band.start, band.stop
            bands.append(band.keep(self.synthesis(frames[..., start:stop, :], f1[..., start:stop, :],
                                                  f2[..., start // 2:stop // 2, :],
                                                  f3[..., start // 4:stop // 4, :])))
        return bands[0] if len(bands) == 1 else torch.cat(bands, dim=2)

    def forward(self, frame1: torch.Tensor, frame2: torch.Tensor, init12: torch.Tensor | None,
                init21: torch.Tensor | None, t: Time) -> tuple[torch.Tensor, ...]:
        """The original model's call: ``(It, F12, F21, F12in, F21in)`` (differentiable, fp32).

        ``It`` is the raw GridNet output; ``F12in``/``F21in`` are the init flows on the 1/8 grid.
        """
        frame1, frame2, init12, init21 = _check_frames(frame1, frame2, init12, init21)
        state = self.pair_state(frame1, frame2, init12, init21)
        return self.render(state, t), state.flow12, state.flow21, state.init12_low, state.init21_low

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        """Autocast to :attr:`autocast_dtype` on ``device`` where it runs there (:func:`runs_on`),
        else fp32."""
        if self.autocast_dtype is None or not runs_on(self.autocast_dtype, device.type):
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)


def _pixel_rows(features: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` features as float32 in ``channels_last`` memory format (same values)."""
    return features.float().contiguous(memory_format=torch.channels_last)


def _as_time(t: Time, like: torch.Tensor) -> Time:
    """Validate t; a tensor becomes ``(N, 1, 1, 1)`` float32 on the frames' device."""
    if isinstance(t, torch.Tensor):
        t = t.to(device=like.device, dtype=torch.float32)
        if t.numel() not in (1, like.shape[0]):
            raise InputError(f"t: expected a number or one value per sample ({like.shape[0]}), "
                             f"got {t.numel()} values")
        if not bool(((t >= 0) & (t <= 1)).all()):
            raise InputError("t must be in [0, 1]")
        return t.reshape(-1, 1, 1, 1)
    t = float(t)
    if not 0.0 <= t <= 1.0:
        raise InputError(f"t must be in [0, 1], got {t}")
    return t


def _check_frame(name: str, x: torch.Tensor) -> None:
    """One frame's boundary checks: an ``(N, 3, H, W)`` float tensor, finite, in [0, 1]."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"{name}: expected an (N, 3, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name}: expected float values in [0, 1], got dtype {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"{name}: empty tensor {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name}: contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(f"{name}: values must be in [0, 1], got [{lo:.4g}, {hi:.4g}]"
                         + ("; divide 8-bit frames by 255" if hi > 2 else ""))


def _check_frames(frame1: torch.Tensor, frame2: torch.Tensor, init12: torch.Tensor | None,
                  init21: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Boundary checks (shapes, float dtype, finiteness, [0, 1] range); returns float32 copies."""
    _check_frame("frame1", frame1)
    _check_frame("frame2", frame2)
    if frame1.shape != frame2.shape:
        raise InputError(f"frame1 {tuple(frame1.shape)} and frame2 {tuple(frame2.shape)} differ in shape")
    if frame1.device != frame2.device:
        raise InputError("frame1 and frame2 are on different devices")
    n, _, h, w = frame1.shape
    for name, flow in (("init12", init12), ("init21", init21)):
        if flow is None:
            continue
        if not isinstance(flow, torch.Tensor) or tuple(flow.shape) != (n, 2, h, w):
            got = tuple(flow.shape) if isinstance(flow, torch.Tensor) else type(flow).__name__
            raise InputError(f"{name}: expected an (N, 2, H, W) = {(n, 2, h, w)} flow, got {got}")
        if flow.device != frame1.device:
            raise InputError(f"{name}: on {flow.device}, but the frames are on {frame1.device}")
        if not flow.is_floating_point() or not bool(torch.isfinite(flow).all()):
            raise InputError(f"{name}: expected finite float flows")
    return tuple(x.float() if x is not None else None for x in (frame1, frame2, init12, init21))
