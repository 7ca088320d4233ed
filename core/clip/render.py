"""Refine and synthesise from given flows, pair by pair (the per-stage RefineFlow / SplatSynthesize).

The one-call :class:`..pipeline.Interpolator` computes flows itself; these functions instead take
the flows of a :class:`..sequence_sgm.ClipFlows` (coarse from SGM, or refined), so each stage can
be inspected or swapped:

* :func:`refine_clip`: coarse -> dense flows, with the learned RFR[+GMA] flow net seeded by the
  coarse flows (as in the paper) or, weight-free, DIS seeded by them;
* :func:`synthesize_clip`: in-betweens at given times from frames + flows, with GridNet
  (learned) or the occlusion-aware splat blend (weight-free); originals are kept in place.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from ..errors import InputError
from ..io.images import check_same_size, flow_to_tensor, to_image, to_rgb_uint8, to_tensor
from ..model.interpolator import LearnedInterpolator, PairState
from ..pipeline import check_times
from ..progress import checkpoint
from ..sgm.clip import ClipFlows
from ..sgm.coarse_flow import CoarseFlow
from ..weightfree.blend import blend_at
from ..weightfree.refine import PairFlows, refine_dis

Step = Callable[[int, int], None]


def _noop(done: int, total: int) -> None:
    pass


def check_clip(frames: Sequence[np.ndarray], flows: ClipFlows) -> list[np.ndarray]:
    """Validate ``frames`` (``uint8`` RGB, one size) against ``flows``: one pair per consecutive frames."""
    if not isinstance(flows, ClipFlows):
        raise InputError(f"flow: expected a FLOW from an AnimeInterp node, got {type(flows).__name__}")
    rgb = [to_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
    if len(rgb) < 2:
        raise InputError(f"need at least two frames (one pair); got {len(rgb)}")
    size = check_same_size(rgb)
    if len(flows.pairs) != len(rgb) - 1:
        raise InputError(f"{len(rgb)} frames need {len(rgb) - 1} flow pairs, the FLOW has "
                         f"{len(flows.pairs)}: "
                         "compute the flow from the same images")
    if flows.size != size:
        raise InputError(f"the FLOW is {flows.size[1]}x{flows.size[0]} but the frames are "
                         f"{size[1]}x{size[0]}")
    return rgb


def refine_clip(frames: Sequence[np.ndarray], coarse: ClipFlows, model: LearnedInterpolator | None = None,
                device: torch.device | str = "cpu", step: Step = _noop) -> ClipFlows:
    """Dense flows of every pair, each refinement seeded with the given (coarse) flows.

    Args:
        frames: ``uint8`` RGB ``(H, W, 3)`` frames, ``len(coarse.pairs) + 1`` of them.
        coarse: the FLOW to start from; where it has ``valid`` masks (coarse SGM flows), the weight-free
            refiner keeps the trusted pixels' coarse flow, and where it has label maps, it chooses
            one flow per drawn piece (as the one-call :class:`..pipeline.Interpolator` does).
        model: the learned interpolator (its flow net refines), or None for DIS.
        device: where the model runs (ignored for DIS).

    Returns:
        A ``ClipFlows`` of kind ``"refined"``, flows at the frame size.
    """
    rgb = check_clip(frames, coarse)
    device = torch.device(device)
    pairs = []
    for k, seed in enumerate(coarse.pairs):
        a, b = rgb[k], rgb[k + 1]
        if model is None:
            valid = coarse.valid[k] if k < len(coarse.valid) else None
            labels = coarse.labels[k] if k < len(coarse.labels) else None
            seed = seed if valid is None else CoarseFlow(seed.flow_13, seed.flow_31, *valid)
            pairs.append(refine_dis(a, b, seed, labels))
        else:
            state = model.estimate(to_tensor(a, device), to_tensor(b, device),
                                   flow_to_tensor(seed.flow_13, device), flow_to_tensor(seed.flow_31, device))
            flow_13, flow_31 = (f[0].float().cpu().numpy() for f in (state.flow12, state.flow21))
            pairs.append(PairFlows(flow_13, flow_31, getattr(model, "variant", "model")))
            del state
        step(k + 1, len(coarse.pairs))
    return ClipFlows(pairs, [None] * len(pairs), "refined", list(coarse.labels))


def learned_state(model: LearnedInterpolator, frame1: np.ndarray, frame3: np.ndarray, flow_13: np.ndarray,
                  flow_31: np.ndarray, device: torch.device | str = "cpu") -> PairState:
    """The model's per-pair state built from given flows instead of its flow net.

    Args:
        frame1, frame3: ``uint8`` RGB ``(H, W, 3)``.
        flow_13, flow_31: ``float32 (2, H, W)`` flows in px.
    """
    with torch.inference_mode():
        return model.state_from_flows(to_tensor(frame1, device), to_tensor(frame3, device),
                                      flow_to_tensor(flow_13, device), flow_to_tensor(flow_31, device))


def synthesize_pair(frame1: np.ndarray, frame3: np.ndarray, flows: PairFlows, times: Sequence[float],
                    model: LearnedInterpolator | None = None, device: torch.device | str = "cpu"
                    ) -> list[np.ndarray]:
    """The in-betweens of one pair at ``times`` (each in (0, 1)) from its flows, ``uint8`` RGB."""
    times = check_times(times)
    device = torch.device(device)
    if model is not None:
        state = learned_state(model, frame1, frame3, flows.flow_13, flows.flow_31, device)
        return [to_image(model.synthesize(state, t)) for t in _checked(times)]
    f1, f3 = to_tensor(frame1, device), to_tensor(frame3, device)
    fl13, fl31 = flow_to_tensor(flows.flow_13, device), flow_to_tensor(flows.flow_31, device)
    alternatives = tuple(tuple(flow_to_tensor(f, device) for f in pair) for pair in flows.alternatives)
    return [to_image(blend_at(f1, f3, fl13, fl31, t, alternatives)) for t in _checked(times)]


def _checked(times: Sequence[float]) -> Iterator[float]:
    """``times`` with a synthesis checkpoint before each in-between."""
    for k, t in enumerate(times):
        checkpoint("synthesis", k, len(times))
        yield t


def synthesize_clip(frames: Sequence[np.ndarray], flows: ClipFlows, times: Sequence[float],
                    model: LearnedInterpolator | None = None, device: torch.device | str = "cpu",
                    step: Step = _noop) -> Iterator[np.ndarray]:
    """Yield ``frame 0, in-betweens of pair 0, frame 1, ..., last frame`` (originals unchanged).

    ``len(frames) + (len(frames) - 1) * len(times)`` frames in all, ``uint8`` RGB ``(H, W, 3)``.
    """
    times = check_times(times)
    rgb = check_clip(frames, flows)
    for k, pair in enumerate(flows.pairs):
        yield rgb[k]
        yield from synthesize_pair(rgb[k], rgb[k + 1], pair, times, model, device)
        step(k + 1, len(flows.pairs))
    yield rgb[-1]
