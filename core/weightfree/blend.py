"""Weight-free synthesis: the in-between at time t from two frames and their flows.

No pixel is forward-splatted; only the *motion* is (so the output has no splat holes):

1. **Motion at t.** Every pixel of frame 1 carries its motion ``F13`` to ``x + t·F13``, every pixel
   of frame 3 carries ``-F31`` to ``x + (1 - t)·F31`` (softmax splatting: consistent flows win
   over occluded ones, then faster over slower, :func:`splat_priority`). Targets nothing reaches
   are filled from their surroundings, coarse to fine (:func:`fill_holes`).
2. **Backward warping.** Both frames are sampled along that motion (:func:`warp_both`), which is
   then corrected by the residual between the two warps where that makes them agree better
   (:func:`.align.align_at_t`); each frame's share is its temporal weight times its visibility at
   t (the coverage it splatted there, :func:`visibility`): an occluded region comes from the frame
   that sees it.
3. **Fall-back.** Where both frames see a pixel and the motion explains the two frames no better
   than standing still (the warped frames disagree about as much as the frames themselves), the
   result fades toward the cross-fade (:func:`motion_confidence`): wrong motion gives a soft
   blend, never fragments.
4. **Several hypotheses.** Given further pairs of flows (the refiner's plain and seeded DIS flows),
   steps 1-3 run for each, and the in-betweens are mixed per pixel by how well each motion explains
   the frames and how consistent its flows are there (:func:`mix_hypotheses`).

Measured on the real development set (``bench/bench_weight_free_real.py``; figures in its
docstring). The learned synthesis (GridNet) lives in ``core.model``.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..progress import checkpoint
from ..splat.forward import forward_splat
from .align import align_at_t
from .warp import warp_both

CONSISTENCY_SCALE = 1.0
"""Importance = exp(-scale * forward-backward error in px) ..."""
MAX_INCONSISTENCY = 20.0
"""... with the exponent capped at -20, so that a region only inconsistent pixels reach still gets
their (normalised) motion instead of nothing."""
MOTION_PRIORITY = 0.5
"""Log-importance per px of motion when motions collide at t (:func:`splat_priority`)."""
TRUST_RATIO = (0.5, 1.0)
"""Disagreement of the warped frames relative to that of the frames themselves at which the
motion is fully trusted, and at which it is dropped for the cross-fade (:func:`motion_confidence`)."""
CONFIDENCE_WINDOW = 15
"""Side (px) of the box window of the fall-back's agreement measure."""
VISIBILITY_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
"""Dilation closing the pin-holes of a stretching motion in a frame's splatted mass."""
VISIBILITY_BLUR = 5
"""Box blur (px) softening the visibility maps."""
MIN_VISIBILITY = 1e-6
"""Floor of each frame's visibility: a pixel neither frame sees takes the temporal blend."""
MIN_DIFFERENCE = 0.3
"""Floor (summed over RGB, range 1) of the frames' own difference in :func:`motion_confidence`: where
the frames barely differ, a motion that keeps them as close is trusted (a figure passing over a
background that looks the same at both ends)."""


def backward_sample(values: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``values (N, C, H, W)`` at ``x + flow(x)`` (bilinear, border clamp)."""
    _n, _, h, w = values.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing="ij")
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], -1)
    return F.grid_sample(values, grid, mode="bilinear", padding_mode="border", align_corners=True)


def consistency_error(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """``|F_ab(x) + F_ba(x + F_ab(x))|`` in px, ``(N, 1, H, W)``: large where x is occluded in b."""
    gap = flow_ab + backward_sample(flow_ba, flow_ab)
    return (gap * gap).sum(dim=1, keepdim=True).sqrt()


def fill_holes(values: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """Fill where ``mass`` is small with mass-weighted averages from coarser scales (push-pull).

    Args:
        values: ``float32 (C, H, W)``, meaningful where ``mass > 0``.
        mass: ``(H, W)`` >= 0; 1 or more means "known", 0 "hole", in between a soft mix.
    Returns:
        ``float32 (C, H, W)``: ``values`` where ``mass >= 1``, smooth fills inside holes.
    """
    known = np.minimum(mass, 1.0).astype(np.float32)
    levels = [(np.ascontiguousarray(values * known, dtype=np.float32), known)]
    while min(levels[-1][1].shape) >= 4:
        v, m = levels[-1]
        levels.append((np.stack([cv2.pyrDown(c) for c in v]), cv2.pyrDown(m)))
    v, m = levels[-1]
    fill = v / np.maximum(m, 1e-8)
    for v, m in reversed(levels[:-1]):
        h, w = m.shape
        up = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in fill])
        fill = v / np.maximum(m, 1e-8) * m + up * (1.0 - m)
    return fill.astype(np.float32)


def motion_at(flow_13: torch.Tensor, flow_31: torch.Tensor, t: float,
              inconsistency: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The motion (frame 1 -> frame 3, px) of what is at each pixel at time ``t``, holes filled,
    and how visible each end frame is there.

    Args:
        flow_13, flow_31: ``(1, 2, H, W)`` float32.
        inconsistency: both flows' :func:`scaled_inconsistency` if already computed.
    Returns:
        motion ``float32 (2, H, W)``; visibility of frame 1 and of frame 3, ``float32 (H, W)`` in
        [0, 1] (:func:`visibility`).
    """
    if inconsistency is None:
        inconsistency = scaled_inconsistency(flow_13, flow_31), scaled_inconsistency(flow_31, flow_13)
    error13, error31 = inconsistency
    z13, z31 = splat_priority(flow_13, error13), splat_priority(flow_31, error31)
    top = max(float(z13.max()), float(z31.max()))
    imp13, imp31 = (z13 - top).clamp_min(-700.0).exp(), (z31 - top).clamp_min(-700.0).exp()
    f13, f31 = flow_13.double(), flow_31.double()
    s1, c1 = forward_splat(torch.cat([f13 * imp13, imp13], 1), f13 * t)
    s3, c3 = forward_splat(torch.cat([-f31 * imp31, imp31], 1), f31 * (1.0 - t))
    summed = s1[0, :3] + s3[0, :3]
    den = summed[2:]
    motion = torch.where(den > 0, summed[:2] / den.clamp_min(1e-300), torch.zeros_like(summed[:2]))
    motion = fill_holes(motion.float().numpy(), (c1 + c3)[0, 0].numpy())
    return motion, visibility(c1[0, 0].numpy()), visibility(c3[0, 0].numpy())


def scaled_inconsistency(flow_ab: torch.Tensor, flow_ba: torch.Tensor) -> torch.Tensor:
    """``CONSISTENCY_SCALE`` x :func:`consistency_error`, capped at ``MAX_INCONSISTENCY``."""
    return (CONSISTENCY_SCALE * consistency_error(flow_ab, flow_ba)).clamp_max(MAX_INCONSISTENCY)


def splat_priority(flow_ab: torch.Tensor, inconsistency: torch.Tensor) -> torch.Tensor:
    """Log-importance of each pixel when motions collide at time t, ``float64 (N, 1, H, W)``:
    consistent before inconsistent (occluded; ``inconsistency`` from :func:`scaled_inconsistency`),
    then faster before slower (what moves more is in front: a figure passing over a still
    background)."""
    speed = (flow_ab * flow_ab).sum(dim=1, keepdim=True).sqrt()
    return (MOTION_PRIORITY * speed - inconsistency).double()


def inconsistency_at(inconsistency: tuple[torch.Tensor, torch.Tensor], motion: np.ndarray, t: float
                     ) -> np.ndarray:
    """Both flows' forward-backward inconsistency (``(1, 1, H, W)`` each, px) brought to time t
    along ``motion`` (as the frames are, :func:`.warp.warp_both`) and blended by time: how
    unreliable the flows are that put each pixel there, ``float32 (H, W)``."""
    error13, error31 = (np.ascontiguousarray(e[0, 0].float().numpy()) for e in inconsistency)
    at1, at3 = warp_both(error13, error31, motion, t)  # (H, W) in, (H, W) out
    return (1.0 - t) * at1 + t * at3


def visibility(coverage: np.ndarray) -> np.ndarray:
    """Soft visibility at time t of an end frame from its splatted coverage (sum of bilinear
    weights, ``(H, W)``): the pin-holes of a stretching motion closed (grey dilation), then
    smoothed; ``float32`` in [0, 1]. (Weighting it by the arrivals' forward-backward consistency
    was tried: it keeps torn motion where both frames' flows are inconsistent, see
    ``bench/bench_weight_free_real.py``.)"""
    closed = cv2.dilate(np.clip(coverage, 0.0, 1.0).astype(np.float32), VISIBILITY_KERNEL)
    return cv2.blur(closed, (VISIBILITY_BLUR, VISIBILITY_BLUR))


def motion_confidence(frame1: np.ndarray, frame3: np.ndarray, warped1: np.ndarray, warped3: np.ndarray
                      ) -> np.ndarray:
    """How much better the motion explains the frames than no motion, ``float32 (H, W)`` in [0, 1].

    ``1 - D / D0`` (clipped) with ``D`` the box-averaged disagreement of the two warped frames and
    ``D0`` that of the frames themselves: 0 where warping does not make them agree any better.
    """
    box = (CONFIDENCE_WINDOW, CONFIDENCE_WINDOW)
    moved = cv2.blur(cv2.absdiff(warped1, warped3).sum(axis=2), box)
    still = cv2.blur(cv2.absdiff(frame1, frame3).sum(axis=2), box)
    ratio = moved / np.maximum(still, MIN_DIFFERENCE)
    return np.clip((TRUST_RATIO[1] - ratio) / (TRUST_RATIO[1] - TRUST_RATIO[0]), 0.0, 1.0)


def synthesize(frame1: np.ndarray, frame3: np.ndarray, flow_13: torch.Tensor, flow_31: torch.Tensor, t: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Steps 1-3 of the module docstring for one flow hypothesis.

    Args:
        frame1, frame3: ``float32 (H, W, 3)`` in [0, 1].
        flow_13, flow_31: ``(1, 2, H, W)`` float32 px, on the CPU.
    Returns:
        the in-between ``float32 (H, W, 3)`` and its cost ``float32 (H, W)``: how badly this motion
        explains the frames, the warped frames' disagreement (``|w1 - w3|`` summed over RGB, in
        [0, 3]) plus :data:`INCONSISTENCY_COST` per px of the flows' inconsistency at t.
    """
    inconsistency = scaled_inconsistency(flow_13, flow_31), scaled_inconsistency(flow_31, flow_13)
    motion, vis1, vis3 = motion_at(flow_13, flow_31, t, inconsistency)
    checkpoint("synthesis", 1, 4)
    w1, w3 = warp_both(frame1, frame3, motion, t)
    checkpoint("synthesis", 2, 4)
    _, w1, w3 = align_at_t(frame1, frame3, motion, t, w1, w3)
    checkpoint("synthesis", 3, 4)
    a1 = (1.0 - t) * np.maximum(vis1, MIN_VISIBILITY)
    a3 = t * np.maximum(vis3, MIN_VISIBILITY)
    moved = (a1[..., None] * w1 + a3[..., None] * w3) / (a1 + a3)[..., None]
    # the warps' agreement counts where both frames see the pixel (elsewhere they cannot agree)
    both = np.minimum(vis1, vis3)
    conf = (motion_confidence(frame1, frame3, w1, w3) * both + (1.0 - both))[..., None]
    crossfade = (1.0 - t) * frame1 + t * frame3
    cost = cv2.absdiff(w1, w3).sum(axis=2) + INCONSISTENCY_COST * inconsistency_at(inconsistency, motion, t)
    return conf * moved + (1.0 - conf) * crossfade, cost


HYPOTHESIS_WINDOW = 31
"""Side (px) of the box window over which the hypotheses' costs are compared (:func:`mix_hypotheses`)."""
HYPOTHESIS_TEMPERATURE = 0.02
"""Difference of box-averaged cost (RGB sum, range 3) that shifts the mix by a factor e."""
INCONSISTENCY_COST = 0.02
"""Cost per px of forward-backward inconsistency at t (capped at :data:`MAX_INCONSISTENCY` px) added
to a hypothesis' disagreement: a few px outweigh most differences of the warps' agreement, so the
mix takes the hypothesis whose flows agree both ways first. Where two warps agree on the wrong
thing (both show the background through a torn figure), only the flows' inconsistency tells."""


def mix_hypotheses(results: list[np.ndarray], costs: list[np.ndarray]) -> np.ndarray:
    """In-betweens ``float32 (H, W, 3)`` of several flow hypotheses mixed per pixel by a softmax of
    how well each one's motion explains the frames (minus its cost ``(H, W)`` from :func:`synthesize`,
    box-averaged over :data:`HYPOTHESIS_WINDOW`, over :data:`HYPOTHESIS_TEMPERATURE`): one that
    explains a region clearly better takes it, and where none does, their mean hedges (it scores
    better than any one of them, and holds no fragments)."""
    box = (HYPOTHESIS_WINDOW, HYPOTHESIS_WINDOW)
    score = np.stack([cv2.blur(c, box) for c in costs]) / HYPOTHESIS_TEMPERATURE
    weight = np.exp(-np.minimum(score - score.min(axis=0, keepdims=True), 50.0))
    weight /= weight.sum(axis=0, keepdims=True)
    return (weight[..., None] * np.stack(results)).sum(axis=0)


@torch.inference_mode()
def blend_at(frame1: torch.Tensor, frame3: torch.Tensor, flow_13: torch.Tensor, flow_31: torch.Tensor,
             t: float, alternatives: Sequence[tuple[torch.Tensor, torch.Tensor]] = ()) -> torch.Tensor:
    """The in-between at time ``t`` (see the module docstring).

    Args:
        frame1, frame3: ``(N, 3, H, W)`` float in [0, 1].
        flow_13, flow_31: ``(N, 2, H, W)`` px.
        t: in (0, 1).
        alternatives: further flow hypotheses ``(flow_13, flow_31)`` of the same shapes (the
            refiner's ``PairFlows.alternatives``). With them, the in-betweens of all hypotheses are
            mixed per pixel (:func:`mix_hypotheses`).
    Returns:
        ``(N, 3, H, W)`` float in [0, 1] on the frames' device.
    """
    if not 0.0 < t < 1.0:
        raise InputError(f"t must be in (0, 1), got {t}")
    if frame1.shape != frame3.shape or flow_13.shape[-2:] != frame1.shape[-2:] or flow_31.shape != flow_13.shape:
        raise InputError("frames and flows must share one size")
    if any(len(pair) != 2 or any(f.shape != flow_13.shape for f in pair) for pair in alternatives):
        raise InputError("each alternative must be two flows (1->3, 3->1) of the flows' shape")

    def cpu(flow: torch.Tensor, i: int) -> torch.Tensor:
        return flow[i:i + 1].detach().float().cpu()

    out = []
    for i in range(frame1.shape[0]):
        a = np.ascontiguousarray(frame1[i].detach().float().cpu().permute(1, 2, 0).numpy())
        b = np.ascontiguousarray(frame3[i].detach().float().cpu().permute(1, 2, 0).numpy())
        results, costs = zip(*(synthesize(a, b, cpu(f13, i), cpu(f31, i), t)
                               for f13, f31 in ((flow_13, flow_31), *alternatives)))
        result = results[0] if len(results) == 1 else mix_hypotheses(list(results), list(costs))
        out.append(torch.from_numpy(np.ascontiguousarray(result)).permute(2, 0, 1))
    return torch.stack(out).to(frame1.device).clamp(0, 1)
