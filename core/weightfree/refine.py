"""Flow refinement: from coarse SGM flows to dense flows.

Two refiners share one result type:

* weight-free: OpenCV DIS on the whole frame, seeded with the coarse flow and fused with the coarse
  flow and unseeded DIS by local warping error, one choice per drawn piece (this module);
* learned: the RFR / RFR+GMA network of ``core.model`` (see ``core.pipeline``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..dis import dis_flow
from ..errors import InputError
from ..progress import checkpoint
from ..sgm.coarse_flow import CoarseFlow, resize_map_nearest


@dataclass(frozen=True)
class PairFlows:
    """Dense flows of one frame pair at the frame size.

    Attributes:
        flow_13: ``float32 (2, H, W)`` frame 1 -> frame 3 in px (ch 0 = x).
        flow_31: ``float32 (2, H, W)`` frame 3 -> frame 1.
        source: ``"coarse"``, ``"dis"`` or the model variant that produced them.
        alternatives: further hypotheses ``(flow_13, flow_31)`` of the same shapes: the weight-free
            refiner's plain DIS flows (from zero flow) and DIS flows seeded with the coarse flow,
            which the weight-free synthesis mixes in where they explain the frames better
            (``blend_at(..., alternatives=)``); empty from the other refiners.
    """

    flow_13: np.ndarray
    flow_31: np.ndarray
    source: str = "dis"
    alternatives: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        return self.flow_13.shape[1], self.flow_13.shape[2]


def refiner_dis() -> cv2.DISOpticalFlow:
    """Whole-frame DIS used by the weight-free refiner: preset MEDIUM with its variational
    refinement; it starts from the coarse flow, so large motions need no coarse-scale search."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    return dis


FUSION_WINDOW_AT_540 = 15
"""Side (px) of the box window over which candidate flows' warping errors are compared, at a short
side of 540 px; it scales with the frame (odd, at least 3)."""


def warping_error(src: np.ndarray, dst: np.ndarray, flow: np.ndarray, window: int) -> np.ndarray:
    """Local photometric error of ``flow``: ``|dst(x + flow(x)) - src(x)|`` summed over RGB and
    box-averaged over ``window`` px; targets outside the frame count as the worst error.

    Args:
        src, dst: ``uint8`` RGB ``(H, W, 3)``.
        flow: ``float32 (2, H, W)`` src -> dst in px.
    Returns:
        ``float32 (H, W)`` in [0, 765].
    """
    h, w = src.shape[:2]
    map_x = np.arange(w, dtype=np.float32)[None, :] + flow[0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + flow[1]
    warped = cv2.remap(dst, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    error = cv2.absdiff(warped, src).astype(np.float32).sum(axis=2)
    outside = (map_x < 0) | (map_x > w - 1) | (map_y < 0) | (map_y > h - 1)
    error[outside] = 3 * 255.0
    return cv2.blur(error, (window, window))


def _checked(fn, *args):
    checkpoint("refine")  # one candidate's warping error at a time: Cancel lands between them
    return fn(*args)


PIECE_MAX_SHARE = 0.2
"""Segments covering at most this share of the frame are drawn pieces that take one candidate flow
as a whole; larger ones (backgrounds, which may deform or hold several motions) choose per pixel."""


def resize_labels(labels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-resize an ``int (h, w)`` label map to ``(height, width)`` (SGM runs at a working size),
    with the sampling that brings SGM's flows to the frame size."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InputError(f"a label map must be (H, W); got shape {labels.shape}")
    return resize_map_nearest(labels, height, width)


def fuse_flows(src: np.ndarray, dst: np.ndarray, candidates: list[np.ndarray],
               labels: np.ndarray | None = None) -> np.ndarray:
    """The candidate flow with the lowest local warping error (:func:`warping_error`), chosen per
    drawn piece where ``labels`` are given, else per pixel.

    A drawn piece (a segment of at most :data:`PIECE_MAX_SHARE` of the frame) takes the candidate
    whose warping error summed over the piece is lowest, so that neighbouring pixels of one piece
    never move with different candidates (the per-pixel choice tore figures apart where a wrong
    candidate happened to match locally). Larger segments choose per pixel.

    Args:
        src, dst: ``uint8`` RGB ``(H, W, 3)``.
        candidates: ``float32 (2, H, W)`` src -> dst flows; ties go to the earlier candidate.
        labels: ``int (H, W)`` segment labels ``0..L-1`` of ``src`` (SGM's label map at the frame
            size), or ``None``.
    Returns:
        ``float32 (2, H, W)``.
    """
    if len(candidates) == 1:
        return candidates[0]
    return choose_flows(candidates, candidate_errors(src, dst, candidates), labels)


def fusion_window(height: int, width: int) -> int:
    """Side (px, odd) of the box window of :func:`warping_error` for a frame of this size."""
    return max(3, round(FUSION_WINDOW_AT_540 * min(height, width) / 540) | 1)


def candidate_errors(src: np.ndarray, dst: np.ndarray, candidates: list[np.ndarray]) -> np.ndarray:
    """``float32 (K, H, W)``: :func:`warping_error` of each candidate flow src -> dst."""
    window = fusion_window(*src.shape[:2])
    return np.stack([_checked(warping_error, src, dst, c, window) for c in candidates])


def choose_flows(candidates: list[np.ndarray], errors: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, or per drawn piece where ``labels`` are given (see :func:`fuse_flows`), the
    candidate of lowest ``errors`` (``(K, H, W)``, summed over the piece); ties go to the earlier."""
    best = errors.argmin(axis=0)
    if labels is not None:
        if labels.shape != errors.shape[1:]:
            raise InputError(f"labels are {labels.shape} but the frame is {errors.shape[1:]}")
        flat = labels.ravel().astype(np.int64)
        if flat.size and flat.min() < 0:
            raise InputError("labels must be non-negative segment indices")
        n = int(flat.max()) + 1 if flat.size else 0
        area = np.bincount(flat, minlength=n)
        totals = np.stack([np.bincount(flat, e.ravel().astype(np.float64), minlength=n) for e in errors])
        piece = (area <= PIECE_MAX_SHARE * flat.size)[labels]
        best = np.where(piece, totals.argmin(axis=0)[labels], best)
    return np.take_along_axis(np.stack(candidates), best[None, None], axis=0)[0]


CONSISTENCY_WEIGHT = 15.0
"""Warping-error units (RGB sum, 0..765) per px of forward-backward inconsistency in the second
pass of :func:`refine_dis`."""
CONSISTENCY_CAP_PX = 20.0
"""Forward-backward inconsistency (px) above which a flow counts as equally wrong."""


def inconsistency(flow_ab: np.ndarray, flow_ba: np.ndarray, window: int) -> np.ndarray:
    """``|flow_ab(x) + flow_ba(x + flow_ab(x))|`` in px, capped at :data:`CONSISTENCY_CAP_PX` and
    box-averaged over ``window`` px: ``float32 (H, W)`` from two ``float32 (2, H, W)`` flows."""
    h, w = flow_ab.shape[1:]
    map_x = np.arange(w, dtype=np.float32)[None, :] + flow_ab[0]
    map_y = np.arange(h, dtype=np.float32)[:, None] + flow_ab[1]
    back = [cv2.remap(np.ascontiguousarray(flow_ba[c]), map_x, map_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE) for c in range(2)]
    gap = np.minimum(np.sqrt((flow_ab[0] + back[0]) ** 2 + (flow_ab[1] + back[1]) ** 2), CONSISTENCY_CAP_PX)
    return cv2.blur(gap.astype(np.float32), (window, window))


def refine_dis(frame1: np.ndarray, frame3: np.ndarray, coarse: CoarseFlow | PairFlows | None = None,
               labels: tuple[np.ndarray, np.ndarray] | None = None) -> PairFlows:
    """Weight-free refinement: dense flows in both directions from DIS and the coarse flow.

    With a coarse flow, each direction has three candidates, and every pixel (with ``labels``: every
    drawn piece) takes the one whose local warping error is lowest (:func:`fuse_flows`): DIS seeded
    with the coarse flow; the same
    with the segments of trusted matches keeping their own coarse flow (DIS on that segment alone,
    not smoothed across its outline); and DIS from zero flow (where SGM matched wrongly). Measured
    against keeping the trusted coarse flow without fusion: +0.4 dB on real colour frames and
    +0.55 dB on line art (``animeinterp evaluate --method weight-free`` on the dev set), within
    0.35 dB on synthetic cartoons (``bench/bench_weight_free.py``). A second pass chooses again with
    each candidate's forward-backward inconsistency against the other direction's first choice
    added to its error (:data:`CONSISTENCY_WEIGHT`): +0.09 dB and SSIM +0.002 on line art, +0.0 dB
    on colour (``bench/bench_weight_free_real.py``). The plain and the seeded DIS flows are kept as the
    result's ``alternatives``, further hypotheses for the synthesis (``blend_at``).

    Args:
        frame1, frame3: ``uint8`` RGB ``(H, W, 3)``.
        coarse: coarse flows at the frame size (``SGMResult.flow_at()``); ``None`` gives plain DIS
            from zero flow. A seed without validity masks (a ``PairFlows``) has no kept segments.
        labels: SGM's label maps of frame 1 and frame 3 (``SGMResult.labels1``/``labels3``, any size:
            nearest-resized to the frame), or ``None`` for the per-pixel choice. Choosing per piece
            gave +0.22 dB on real colour frames, +0.0 dB on line art (bench_weight_free_real) and
            visibly fewer fragments on the torn pairs.
    """
    if frame1.shape != frame3.shape or frame1.ndim != 3:
        raise InputError(f"frames must be (H, W, 3) of one size; got {frame1.shape} and {frame3.shape}")
    if coarse is not None and coarse.flow_13.shape[1:] != frame1.shape[:2]:
        raise InputError(
            f"coarse flow is {coarse.flow_13.shape[1:]} but frames are {frame1.shape[:2]}: "
            "resize it with SGMResult.flow_at(height, width)"
        )
    grey = {1: cv2.cvtColor(frame1, cv2.COLOR_RGB2GRAY), 3: cv2.cvtColor(frame3, cv2.COLOR_RGB2GRAY)}
    frame = {1: frame1, 3: frame3}
    h, w = frame1.shape[:2]
    label = {1: None, 3: None} if labels is None else {1: resize_labels(labels[0], h, w), 3: resize_labels(labels[1], h, w)}
    calls = [0]

    def frame_flow(a: int, b: int, seed: np.ndarray | None) -> np.ndarray:
        checkpoint("refine", calls[0], 2 if coarse is None else 4)
        calls[0] += 1
        init = None if seed is None else np.ascontiguousarray(seed.transpose(1, 2, 0), dtype=np.float32)
        # a fresh DIS per call: one that was given an initial flow keeps using its last result as the
        # start of later calls, so a "plain" flow after a seeded one was not plain
        return np.ascontiguousarray(dis_flow(refiner_dis(), grey[a], grey[b], init).transpose(2, 0, 1))

    if coarse is None:
        return PairFlows(frame_flow(1, 3, None), frame_flow(3, 1, None), "dis")
    candidates, errors, first, plain, seeded = {}, {}, {}, {}, {}
    for a, b in ((1, 3), (3, 1)):
        plain[a] = frame_flow(a, b, None)
        seed = getattr(coarse, f"flow_{a}{b}")
        seeded[a] = frame_flow(a, b, seed)
        candidates[a] = [seeded[a], plain[a]]
        valid = getattr(coarse, f"valid_{a}{b}", None)
        if valid is not None:
            candidates[a].insert(0, np.where(valid[None], seed, seeded[a]).astype(np.float32))
        errors[a] = candidate_errors(frame[a], frame[b], candidates[a])
        first[a] = choose_flows(candidates[a], errors[a], label[a])
    # second pass: a candidate must also agree with the other direction's first choice
    window = fusion_window(h, w)
    out = []
    for a, b in ((1, 3), (3, 1)):
        checkpoint("refine")
        penalty = np.stack([inconsistency(c, first[b], window) for c in candidates[a]])
        out.append(choose_flows(candidates[a], errors[a] + CONSISTENCY_WEIGHT * penalty, label[a]))
    return PairFlows(out[0], out[1], "sgm+dis", ((plain[1], plain[3]), (seeded[1], seeded[3])))
