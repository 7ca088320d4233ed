"""Coarse flow from matched segments (SGM step 3, ARCHITECTURE.md §5.5).

For every segment of the source frame that has a trustworthy partner, the flow of its pixels is
the shift between the two segments' bounding-box centres plus a local deformation measured by
OpenCV DIS on the two masked grey patches. Trust requires (code thresholds):

* a mutual best match (rank sum <= 0),
* a centroid displacement of at most 250 px,
* 50 < source size < 12% of the image, and a size ratio below 3,
* after DIS, more than 80% of the source mask, forward-splatted by the DIS flow, lands on the
  partner's mask.

Every other pixel gets flow 0, exactly like the original, which could not tell "no motion" from
"no match"; :class:`CoarseFlow` adds a ``valid`` mask that can.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np
import torch

from ..concurrency import map_threaded
from ..errors import InputError
from ..progress import checkpoint
from ..splat.average_numpy import splat_average_numpy
from .match import Matches
from .stats import SegmentStats

MAX_SHIFT = 250.0
"""Largest accepted centroid displacement in px (code: ``flowLen <= 250``)."""
MIN_PIXELS = 50
"""Segments must have more than this many pixels."""
MAX_AREA_FRACTION = 0.12
"""... and fewer than this fraction of the image."""
MAX_SIZE_RATIO = 3.0
"""max(n_i/n_j, n_j/n_i) must be below this."""
MIN_OVERLAP = 0.8
"""Share of the warped source mask that must land on the partner mask (strictly greater)."""
WARPED_MASK_FLOOR = 0.05
"""Normalised splatted mask values below this count as empty."""
DARK_MEAN = 20
"""Segments darker than this (mean grey) are brightened to ``0.8 v + 0.2 * 200`` before DIS."""
PATCH_MIN = 16
PATCH_BORDER = 10
"""Patches are zero-padded (centred) to ``max(h1, h2, 16) + 10`` by ``max(w1, w2, 16) + 10``."""


@dataclass(frozen=True)
class CoarseFlow:
    """Coarse flows in both directions for one frame pair.

    Attributes:
        flow_13: ``float64 (2, H, W)`` frame 1 -> frame 3 (ch 0 = x), 0 where not valid.
        flow_31: ``float64 (2, H, W)`` frame 3 -> frame 1.
        valid_13, valid_31: ``bool (H, W)``: pixels whose flow came from an accepted match.
    """

    flow_13: np.ndarray
    flow_31: np.ndarray
    valid_13: np.ndarray
    valid_31: np.ndarray

    def resized(self, height: int, width: int) -> CoarseFlow:
        """Nearest-resize to ``(height, width)`` and scale the vectors (the original loader's rule:
        legacy nearest, source index ``floor(dst * in / out)``)."""
        return CoarseFlow(
            resize_flow_nearest(self.flow_13, height, width),
            resize_flow_nearest(self.flow_31, height, width),
            resize_map_nearest(self.valid_13, height, width),
            resize_map_nearest(self.valid_31, height, width),
        )


def _nearest_index(out_size: int, in_size: int) -> np.ndarray:
    # torch's legacy 'nearest': src = floor(dst * (in / out)) computed in float32
    scale = np.float32(in_size) / np.float32(out_size)
    idx = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, in_size - 1)


def resize_flow_nearest(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a ``(2, h, w)`` flow with legacy nearest sampling and rescale x by ``W/w``, y by ``H/h``."""
    _, h, w = flow.shape
    if (h, w) == (height, width):
        return flow.copy()
    t = torch.from_numpy(np.ascontiguousarray(flow))[None]
    out = torch.nn.functional.interpolate(t, size=(height, width), mode="nearest")[0].numpy().copy()
    out[0] *= width / w
    out[1] *= height / h
    return out


def resize_map_nearest(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a ``(h, w)`` map (validity mask, label map) with the same legacy nearest sampling as
    :func:`resize_flow_nearest`, so that it stays aligned with the resized flows."""
    h, w = mask.shape
    if (h, w) == (height, width):
        return mask.copy()
    return mask[_nearest_index(height, h)][:, _nearest_index(width, w)]


DisSettings = Literal["original", "fast"]
"""DIS settings of the per-segment flows, see :func:`make_dis`."""
DIS_SETTINGS: tuple[DisSettings, ...] = get_args(DisSettings)


def check_dis_settings(settings: str) -> None:
    if settings not in DIS_SETTINGS:
        raise InputError(f"unknown DIS settings {settings!r}; use one of {list(DIS_SETTINGS)}")


def make_dis(settings: DisSettings = "original") -> cv2.DISOpticalFlow:
    """DIS for the per-segment flows.

    * ``"original"``: the original code's settings, which the published checkpoints were trained
      with: preset MEDIUM, then 25 variational refinement iterations, finest scale 0 and 50
      gradient-descent iterations (patch 8, stride 3, mean normalisation and spatial propagation
      from the preset).
    * ``"fast"``: OpenCV's stock MEDIUM preset (finest scale 1, 25 descent and 5 variational
      iterations): 2.4x less DIS time, flows 0.8 px (mean) from the original's. The weight-free
      pipeline uses it: on the real development set it scores the same with it (27.30 vs 27.31 dB
      colour, 22.32 vs 22.29 dB line art) in 30% less time per in-between.
    """
    check_dis_settings(settings)
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    if settings == "original":
        dis.setVariationalRefinementIterations(25)
        dis.setFinestScale(0)
        dis.setGradientDescentIterations(50)
    return dis


def candidate_segments(src: SegmentStats, dst: SegmentStats, rank_sum: np.ndarray, match: np.ndarray,
                       rank_sum_threshold: int = 0) -> np.ndarray:
    """Source segments passing the match, shift and size tests (before DIS), vectorised."""
    n_src = src.pixel_counts.astype(np.float64)
    n_dst = dst.pixel_counts[match].astype(np.float64)
    shift = np.sqrt((dst.centroid_x[match] - src.centroid_x) ** 2 + (dst.centroid_y[match] - src.centroid_y) ** 2)
    ratio = np.maximum(n_src / n_dst, n_dst / n_src)
    total = src.labels.shape[0] * src.labels.shape[1]
    ok = (
        (rank_sum <= rank_sum_threshold)
        & (shift <= MAX_SHIFT)
        & (n_src < total * MAX_AREA_FRACTION)
        & (n_src > MIN_PIXELS)
        & (ratio < MAX_SIZE_RATIO)
    )
    return np.nonzero(ok)[0]


def _masked_patch(grey: np.ndarray, labels: np.ndarray, label: int, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = (int(v) for v in box)
    mask = labels[y0 : y1 + 1, x0 : x1 + 1] == label
    patch = grey[y0 : y1 + 1, x0 : x1 + 1].copy()
    patch[~mask] = 0
    if patch[mask].mean() < DARK_MEAN:
        # float64 result stored into uint8 truncates, as in the original
        patch[mask] = (0.8 * patch[mask] + 0.2 * 200).astype(np.uint8)
    return patch, mask


def _pad(a: np.ndarray, th: int, tw: int) -> tuple[np.ndarray, int, int]:
    top, left = (th - a.shape[0]) // 2, (tw - a.shape[1]) // 2
    out = np.zeros((th, tw), a.dtype)
    out[top : top + a.shape[0], left : left + a.shape[1]] = a
    return out, top, left


def overlap_ratio(mask1: np.ndarray, mask2: np.ndarray, flow: np.ndarray) -> float:
    """Share of ``mask1`` splatted by ``flow`` (normalised, values < 0.05 dropped) inside ``mask2``.

    NaN when nothing lands inside the patch (the original's 0/0, which fails the test).
    """
    warped = splat_average_numpy(mask1.astype(np.float32), flow)
    landed = warped >= WARPED_MASK_FLOOR
    n = int(landed.sum())
    if n == 0:
        return float("nan")
    return float(np.logical_and(landed, mask2).sum()) / n


def patch_shape(box1: np.ndarray, box2: np.ndarray) -> tuple[int, int]:
    """``(h, w)`` of the padded DIS patches for two ``(x0, y0, x1, y1)`` inclusive boxes:
    ``max(h1, h2, 16) + 10`` by ``max(w1, w2, 16) + 10``."""
    h = max(int(box1[3] - box1[1]), int(box2[3] - box2[1])) + 1
    w = max(int(box1[2] - box1[0]), int(box2[2] - box2[0])) + 1
    return max(h, PATCH_MIN) + PATCH_BORDER, max(w, PATCH_MIN) + PATCH_BORDER


def segment_flow(grey_src: np.ndarray, grey_dst: np.ndarray, src: SegmentStats, dst: SegmentStats,
                 i: int, j: int, dis: cv2.DISOpticalFlow) -> tuple[np.ndarray, np.ndarray] | None:
    """Flow of the pixels of source segment ``i`` towards destination segment ``j``.

    Returns ``(flow (2, n) float64, flat pixel indices (n,))`` in raster order, or None when the
    overlap test rejects the match.
    """
    b1, b2 = src.bbox[i], dst.bbox[j]
    p1, m1 = _masked_patch(grey_src, src.labels, i, b1)
    p2, m2 = _masked_patch(grey_dst, dst.labels, j, b2)
    th, tw = patch_shape(b1, b2)
    p1p, top1, left1 = _pad(p1, th, tw)
    p2p, _, _ = _pad(p2, th, tw)
    m1p, _, _ = _pad(m1, th, tw)
    m2p, _, _ = _pad(m2, th, tw)
    flow = dis.calc(p1p, p2p, None)
    if not overlap_ratio(m1p, m2p, flow) > MIN_OVERLAP:
        return None
    ys, xs = np.nonzero(m1)
    shift_x = (b2[0] + b2[2] - b1[0] - b1[2]) / 2
    shift_y = (b2[1] + b2[3] - b1[1] - b1[3]) / 2
    local = flow[ys + top1, xs + left1].astype(np.float64)
    vec = np.stack([shift_x + local[:, 0], shift_y + local[:, 1]])
    w = src.labels.shape[1]
    return vec, (ys + b1[1]) * w + (xs + b1[0])


def directional_flows(jobs: list[tuple[np.ndarray, np.ndarray, SegmentStats, SegmentStats, np.ndarray, np.ndarray]],
                      rank_sum_threshold: int = 0, workers: int | None = None,
                      dis: DisSettings = "original") -> list[tuple[np.ndarray, np.ndarray]]:
    """Coarse flows for several ``(frame_src, frame_dst, src, dst, rank_sum, match)`` directions.

    The per-segment DIS calls of all directions run on a thread pool, largest patch first so that
    no thread is left with a big patch at the end (OpenCV releases the GIL; each segment writes
    its own pixels). Every segment gets a fresh DIS object: a DIS result depends on what the
    object computed before (seen with the "fast" settings), so a reused one would make the flows
    depend on which thread ran which segments. Creating one costs 0.3% of one 60x60 patch's DIS
    (34 us against 12.7 ms on the loaded 2-core machine; ``bench/bench_determinism.py --dis-cost``).
    Returns per direction ``(float64 (2, H, W), valid bool (H, W))``.
    """
    outputs, tasks = [], []
    for d, (frame_src, frame_dst, src, dst, rank_sum, match) in enumerate(jobs):
        h, w = src.labels.shape
        greys = (cv2.cvtColor(frame_src, cv2.COLOR_RGB2GRAY), cv2.cvtColor(frame_dst, cv2.COLOR_RGB2GRAY))
        outputs.append((np.zeros((2, h * w), np.float64), np.zeros(h * w, bool)))
        for i in candidate_segments(src, dst, rank_sum, match, rank_sum_threshold):
            tasks.append((d, greys, src, dst, int(i), int(match[i])))
    tasks.sort(key=lambda t: np.prod(patch_shape(t[2].bbox[t[4]], t[3].bbox[t[5]])), reverse=True)
    check_dis_settings(dis)

    def run(task):
        d, (g_src, g_dst), src, dst, i, j = task
        return d, segment_flow(g_src, g_dst, src, dst, i, j, make_dis(dis))

    results = map_threaded(run, tasks, workers)
    checkpoint("coarse flow", 0, len(tasks))
    for k, (d, res) in enumerate(results):
        checkpoint("coarse flow", k + 1, len(tasks))  # may raise: the pool drops the jobs not started
        if res is not None:
            vec, idx = res
            outputs[d][0][:, idx] = vec
            outputs[d][1][idx] = True
    return [(f.reshape(2, *j[2].labels.shape), v.reshape(j[2].labels.shape)) for (f, v), j in zip(outputs, jobs)]


def coarse_flow(frame1: np.ndarray, frame3: np.ndarray, matches: Matches, rank_sum_threshold: int = 0,
                dis: DisSettings = "original") -> CoarseFlow:
    """Coarse flows 1->3 and 3->1 from matched segments.

    Args:
        frame1, frame3: ``uint8`` RGB ``(H, W, 3)``, the frames the label maps were computed on.
        matches: output of :func:`core.sgm.match.match_segments` on these frames.
        dis: DIS settings of the per-segment flows (:func:`make_dis`); ``"original"`` gives the
            flows the published checkpoints were trained on.
    """
    if frame1.shape != frame3.shape or frame1.shape[:2] != matches.stats1.labels.shape:
        raise InputError("frames and matches do not belong together (sizes differ)")
    jobs = [
        (frame1, frame3, matches.stats1, matches.stats3, matches.rank_sum_13.numpy(), matches.match_13.numpy()),
        (frame3, frame1, matches.stats3, matches.stats1, matches.rank_sum_31.numpy(), matches.match_31.numpy()),
    ]
    (f13, v13), (f31, v31) = directional_flows(jobs, rank_sum_threshold, dis=dis)
    return CoarseFlow(f13, f31, v13, v31)
