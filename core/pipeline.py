"""The one-call API: two frames in, in-betweens out. Shared by the CLI and the one-click node.

    frames -> SGM (segment, match, coarse flow) -> refine -> synthesise at each t

``Interpolator`` runs the learned path when it has a model (RFR / RFR+GMA refinement and GridNet
synthesis) and the weight-free path otherwise (DIS refinement seeded by SGM and fused with the
coarse flow, one flow per drawn piece; the motion carried to t and both frames backward-warped,
for the fused flows and for plain and seeded DIS, mixed by how well each explains the frames).
Flows are computed once per pair; any number of in-betweens come from them.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from .clip.frame_memo import FrameMemo
from .errors import InputError
from .features.vgg19 import VGG19Features
from .io.images import ArrayLike, flow_to_tensor, rgb_pair, to_image, to_tensor
from .progress import checkpoint
from .sgm.run import SGMOptions, SGMResult, run_sgm
from .weightfree.blend import blend_at
from .weightfree.refine import PairFlows, refine_dis


@dataclass
class PreparedPair:
    """Everything about a frame pair that does not depend on t.

    Attributes:
        frame1, frame3: ``uint8`` RGB frames as given (validated).
        sgm: the SGM result (None when SGM was switched off).
        flows: dense flows at the frame size (numpy, for previews and the weight-free path).
        state: the learned model's per-pair state, or None on the weight-free path.
        blend_inputs: the weight-free path's tensors on the device, made once per pair:
            frames ``(1, 3, H, W)`` in [0, 1] and flows ``(1, 2, H, W)`` px (1->3, 3->1).
        alternatives: the weight-free path's further flow hypotheses as such tensors.
    """

    frame1: np.ndarray
    frame3: np.ndarray
    sgm: SGMResult | None
    flows: PairFlows
    state: Any = None
    blend_inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    alternatives: tuple[tuple[torch.Tensor, torch.Tensor], ...] = ()


def check_times(times: Sequence[float]) -> list[float]:
    """Validate in-between times: each strictly inside (0, 1)."""
    out = []
    for t in times:
        t = float(t)
        if not 0.0 < t < 1.0:
            raise InputError(f"in-between times must be strictly between 0 and 1; got {t}")
        out.append(t)
    return out


def evenly_spaced_times(multiplier: int) -> list[float]:
    """The ``multiplier - 1`` in-between times of a x``multiplier`` frame rate: ``k / multiplier``."""
    if int(multiplier) != multiplier or multiplier < 2:
        raise InputError(f"multiplier must be an integer >= 2; got {multiplier}")
    return [k / multiplier for k in range(1, int(multiplier))]


class Interpolator:
    """Interpolate frame pairs.

    Args:
        model: a ``LearnedInterpolator`` (``core.model.load_model``) or None for the weight-free path.
        vgg: VGG-19 (or VGG-16) features for SGM matching; None matches with the weight-free colour/shape
            descriptor.
        sgm: SGM options (preset, working size...); the feature kind follows ``vgg`` unless
            set explicitly to "colour", and unset coarse-flow DIS settings become "original"
            with a model and "fast" without one.
        use_sgm: False skips SGM (the model then starts from zero flow, DIS from scratch).
        device: where the networks run (default: the model's device, else CPU).
    """

    def __init__(self, model: torch.nn.Module | None = None, vgg: VGG19Features | None = None,
                 sgm: SGMOptions | None = None, use_sgm: bool = True,
                 device: torch.device | str | None = None) -> None:
        self.model = model
        self.vgg = vgg
        if device is None:
            device = next(model.parameters()).device if model is not None else "cpu"
        self.device = torch.device(device)
        sgm = sgm or SGMOptions()
        if vgg is None and sgm.features == "vgg":
            sgm = replace(sgm, features="colour")
        if sgm.coarse_flow_dis is None:
            # the checkpoints were trained on the original's coarse flows; nothing was trained on
            # the weight-free path's, and the faster DIS scores the same there (core.sgm.coarse_flow)
            sgm = replace(sgm, coarse_flow_dis="original" if model is not None else "fast")
        self.sgm_options = sgm
        self.use_sgm = use_sgm
        self.sgm_memo = FrameMemo(capacity=2)
        """Per-frame SGM work of the last two frames: a clip's interior frames are described once."""
        self.encoding_memo = FrameMemo(capacity=2)
        """The learned flow net's encodings of the last two frames: a clip's interior frames are
        encoded once (a few MB each: 8 MB at 960x540)."""

    @property
    def weight_free(self) -> bool:
        return self.model is None

    def prepare(self, frame1: ArrayLike, frame3: ArrayLike) -> PreparedPair:
        """Run SGM and flow refinement once for a pair."""
        a, b = rgb_pair(frame1, frame3)
        h, w = a.shape[:2]
        sgm = run_sgm(a, b, self.sgm_options, self.vgg, self.device, self.sgm_memo) if self.use_sgm else None
        coarse = sgm.flow_at(h, w) if sgm is not None else None
        if self.model is None:
            flows = refine_dis(a, b, coarse, (sgm.labels1, sgm.labels3) if sgm is not None else None)
            blend_inputs = (to_tensor(a, self.device), to_tensor(b, self.device),
                            flow_to_tensor(flows.flow_13, self.device), flow_to_tensor(flows.flow_31, self.device))
            alternatives = tuple(tuple(flow_to_tensor(f, self.device) for f in pair) for pair in flows.alternatives)
            return PreparedPair(a, b, sgm, flows, blend_inputs=blend_inputs, alternatives=alternatives)
        t1, t3 = to_tensor(a, self.device), to_tensor(b, self.device)
        init13 = init31 = None
        if coarse is not None:
            init13, init31 = flow_to_tensor(coarse.flow_13, self.device), flow_to_tensor(coarse.flow_31, self.device)
        state = self.model.estimate(t1, t3, init13, init31, encoded=self._encodings((a, t1), (b, t3)))
        flows = PairFlows(state.flow12[0].float().cpu().numpy(), state.flow21[0].float().cpu().numpy(),
                          getattr(self.model, "variant", "model"))
        return PreparedPair(a, b, sgm, flows, state)

    def _encodings(self, *frames: tuple[np.ndarray, torch.Tensor]) -> tuple:
        """Each frame's flow-net encoding (``frames``: the ``uint8`` frame, its tensor), from
        :attr:`encoding_memo` when the frame was in the last pair."""
        key = self.model.encoding_key(frames[0][1].device)
        return tuple(self.encoding_memo.get(frame, key, lambda tensor=tensor: self.model.encode_frame(tensor))
                     for frame, tensor in frames)

    def frame_at(self, pair: PreparedPair, t: float) -> np.ndarray:
        """The in-between at time ``t`` in (0, 1) as ``uint8`` RGB."""
        (t,) = check_times([t])
        checkpoint("synthesis", 0, 1)
        if pair.state is not None:
            return to_image(self.model.synthesize(pair.state, t))
        return to_image(blend_at(*pair.blend_inputs, t, pair.alternatives))

    def interpolate(self, frame1: ArrayLike, frame3: ArrayLike, times: Sequence[float] = (0.5,)) -> list[np.ndarray]:
        """In-betweens of one pair at each of ``times`` (flows computed once)."""
        times = check_times(times)
        pair = self.prepare(frame1, frame3)
        return [self.frame_at(pair, t) for t in times]


# ---------------------------------------------------------------------------------------------
# Evaluation methods ("full" and "weight-free"), registered with core.evaluate when imported.
def build_interpolator(weights: str | None = None, vgg_weights: str | None = None, preset: str = "japan",
                       device: str = "cpu", working_size: Any = "auto", search_dirs: Sequence[str] = (),
                       memory_budget: Any = None, correlation: str = "auto", attention: str = "auto",
                       flow_scale: Any = "auto") -> Interpolator:
    """An :class:`Interpolator` from weight names or paths (resolved through the manifest).

    ``weights=None`` gives the weight-free path; ``vgg_weights`` names the matching feature network
    (``"vgg19"``, ``"vgg16"`` or a file of either, detected), ``None`` matches with the weight-free
    colour/shape descriptor. ``memory_budget`` (bytes, ``"2GB"``, or a callable ``device -> bytes``),
    ``correlation`` and ``attention`` set the learned flow net's memory modes
    (``LearnedInterpolator.set_memory_options``); ``flow_scale`` how much smaller the flow net's
    frames are (``core.model.flow_scale``: ``"auto"`` shrinks only frames above 1920x1088).
    """
    from .features.networks import load_feature_network
    from .model import load_model
    from .weights.resolve import resolve_weight

    model = None
    if weights:
        model = load_model(resolve_weight(weights, search_dirs=search_dirs), device, correlation=correlation,
                           attention=attention, memory_budget=memory_budget, flow_scale=flow_scale)
    vgg = load_feature_network(resolve_weight(vgg_weights, search_dirs=search_dirs)).to(device) if vgg_weights else None
    features = "vgg" if vgg is not None else "colour"
    return Interpolator(model, vgg, SGMOptions(preset=preset, features=features, working_size=working_size),
                        device=device)


def _method(interp: Interpolator):
    def method(frame1: np.ndarray, frame3: np.ndarray, t: float) -> np.ndarray:
        return interp.interpolate(frame1, frame3, [t])[0]

    return method


def _flows(interp: Interpolator):
    def estimate(frame1: np.ndarray, frame3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pair = interp.prepare(frame1, frame3)
        return pair.flows.flow_13, pair.flows.flow_31

    return estimate


def _register_evaluation_methods() -> None:
    from functools import lru_cache

    from .evaluate.methods import available_methods, register_method

    if "full" in available_methods():
        return

    @lru_cache(maxsize=4)  # the method and its flow estimator share one loaded model
    def full(device: str = "cpu", weights: str = "afi-atd12k-style", vgg_weights: str = "vgg19",
             preset: str = "japan", **_: Any) -> Interpolator:
        return build_interpolator(weights, vgg_weights, preset, device)

    @lru_cache(maxsize=4)
    def weight_free(device: str = "cpu", preset: str = "japan", vgg_weights: str | None = None,
                    **_: Any) -> Interpolator:
        return build_interpolator(None, vgg_weights, preset, device)

    register_method("full", lambda **o: _method(full(**o)),
                    "SGM + learned RFR+GMA refinement + GridNet (needs weights)",
                    flow_factory=lambda **o: _flows(full(**o)))
    register_method("weight-free", lambda **o: _method(weight_free(**o)),
                    "SGM (colour features) + DIS refinement + backward warping at t with a cross-fade fall-back, no weights",
                    flow_factory=lambda **o: _flows(weight_free(**o)))


_register_evaluation_methods()
