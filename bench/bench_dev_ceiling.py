"""How far two-frame interpolation can go on the real development set: oracles that see the truth.

Issue 14 asks the weight-free path for DIS + 1.0 dB. These oracles look at the true in-between
(frame 2) to tell how much of the gap better motion could close at all, and how much is the
artist's timing, which no pair of frames shows:

* ``timing oracle``: the weight-free in-between at whichever time t' of
  :data:`ORACLE_TIMES` scores best against the truth (one t' per triplet). The drawn in-between is
  often not halfway along the motion (ease in and out, a head turning later than the body);
* ``linear motion, truth side 1`` / ``side 3``: both frames backward-warped to t along the motion
  that is constant in time and passes through the truth: ``m = -F21 / t`` or ``m = F23 / (1 - t)``
  with ``F2x`` OpenCV DIS (MEDIUM) from the truth to frame x. That is what a perfect motion estimate
  gives to any method that moves each pixel at constant speed, as ours and the DIS warp do (up to
  DIS's own errors on the half-way motion);
* ``two-sided truth flows``: frame 1 warped along ``F21`` and frame 3 along ``F23``, blended: the
  ceiling of flow warping when the motion may bend and change speed.

Measured 2026-12-03 15:56 UTC (2 threads, a test run alongside; quality only, no timing;
``bench/results/dev_ceiling.json``; mean PSNR dB over DIS, colour at 960x540 ; line art native;
DIS itself 27.19 ; 22.26):

* weight-free +0.60 ; +0.24 (the cross-fade -3.65 ; -2.04);
* timing oracle +1.61 ; +0.40: the best t' is not 0.5 on 5 of 14 colour and 13 of 31 line-art
  triplets. Our motion at the right time is worth a further 1.0 dB on colour;
* linear motion from the truth +1.47 / +1.26 ; +0.75 / +0.88 (side 1 / side 3): **on line art no
  method that moves pixels at constant speed reaches DIS + 1.0 dB**, not even with the true
  position at t; on colour such motion is worth at most about 0.9 dB more than ours, most of it
  the position at t that the pair does not show;
* two-sided truth flows +9.09 ; +2.24: what warping could give if the motion's bend and timing
  were known (a learned model's prior, or neighbouring frames, would be needed to guess them).

(A first run, 15:00 UTC, before the motion correction at t of ``core.weightfree.align``: weight-free
+0.59 ; +0.20, timing oracle +1.60 ; +0.34; the oracles from the truth identical.)

Issue 14 item 1 per triplet (run of 2026-12-03 18:03 UTC, after the consistency term in the
hypotheses' mix: weight-free +0.59 ; +0.21, timing oracle +1.60 ; +0.37, the oracles from the truth
as above; with the counts of :func:`common.against_baselines` and each triplet's PSNR per method in
``per_triplet_psnr``): triplets with an LPIPS above the cross-fade's, colour ; line art:
weight-free 1 ; 10, timing oracle 0 ; 5, linear motion from the truth 1-2 ; 7-8, two-sided truth
flows 0 ; 1 (the 17:02 run, before that term: 1 ; 10 and timing oracle 0 ; 6). **On line art even the true constant-speed motion has a higher LPIPS than the
cross-fade on 7 of 31 triplets**: "no LPIPS above the cross-fade on any triplet" needs the
motion's bend and timing, not a better constant-speed motion. The worst colour triplet against the
cross-fade (weight-free -2.32 dB, anidoc sample4 f0008-10) stays -0.88 dB below it even at the
best of five times t'; with the truth's position at t it is above it (+1.11 / +0.34 dB). Of the
colour gap between ours and constant-speed motion from the truth (+0.88 dB on average), most is on
five triplets: anidoc sample3 f0006-08 +1.53, sample4 f0004-06 +2.09, f0006-08 +2.65, f0008-10
+3.47 and onepiece f0100-06 +2.09 dB, where the drawn in-between is not at the linear midpoint.

Usage: ``python bench/bench_dev_ceiling.py [--data .../real_anime_dev] [--limit N] [--threads 2]``
Writes ``bench/results/dev_ceiling.json``.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    against_baselines,
    dev_set_parser,
    dev_triplets,
    environment,
    image_quality,
    lpips_model,
    main,
)

SETS = (("colour", (960, 540)), ("lineart", None))
ORACLE_TIMES = (0.3, 0.4, 0.5, 0.6, 0.7)
"""The times the timing oracle tries."""


def dis_flow(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """OpenCV DIS (MEDIUM) from ``src`` to ``dst`` (``uint8`` RGB), ``float32 (2, H, W)`` px."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (src, dst)]
    return np.ascontiguousarray(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
                                .calc(*grey, None).transpose(2, 0, 1))


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(image + 0.5), 0, 255).astype(np.uint8)


def linear_motion_in_between(frame1: np.ndarray, frame3: np.ndarray, motion: np.ndarray, t: float) -> np.ndarray:
    """Both frames backward-warped to ``t`` along ``motion`` (frame 1 -> frame 3 of what is at each
    pixel at t, ``(2, H, W)`` px) and blended by time: ``(1-t)·f1(x - t·m) + t·f3(x + (1-t)·m)``."""
    from comfyui_animeinterp.core.weightfree.warp import warp_both

    w1, w3 = warp_both(frame1.astype(np.float32), frame3.astype(np.float32), motion, t)
    return to_uint8((1.0 - t) * w1 + t * w3)


def two_sided_in_between(frame1: np.ndarray, frame3: np.ndarray, flow_21: np.ndarray, flow_23: np.ndarray,
                         t: float) -> np.ndarray:
    """``(1-t)·f1(x + F21(x)) + t·f3(x + F23(x))``: each frame warped along its own flow from the truth."""
    from comfyui_animeinterp.core.weightfree.warp import pixel_grid, warp

    grid = pixel_grid(*frame1.shape[:2])
    return to_uint8((1.0 - t) * warp(frame1.astype(np.float32), flow_21, 1.0, grid)
                    + t * warp(frame3.astype(np.float32), flow_23, 1.0, grid))


def oracle_in_betweens(frame1: np.ndarray, frame2: np.ndarray, frame3: np.ndarray, t: float) -> dict[str, np.ndarray]:
    """The in-betweens of the three motion oracles of the module docstring that use the truth's flows."""
    flow_21, flow_23 = dis_flow(frame2, frame1), dis_flow(frame2, frame3)
    return {
        "linear motion, truth side 1": linear_motion_in_between(frame1, frame3, -flow_21 / t, t),
        "linear motion, truth side 3": linear_motion_in_between(frame1, frame3, flow_23 / (1.0 - t), t),
        "two-sided truth flows": two_sided_in_between(frame1, frame3, flow_21, flow_23, t),
    }


def timing_oracle(frame_at: Callable[[float], np.ndarray], score: Callable[[np.ndarray], float]
                  ) -> tuple[np.ndarray, float]:
    """The in-between ``frame_at(t')`` of the best ``score`` over :data:`ORACLE_TIMES`, and that t'."""
    best = max((score(frame_at(t)), t) for t in ORACLE_TIMES)
    return frame_at(best[1]), best[1]


def build_parser() -> argparse.ArgumentParser:
    return dev_set_parser(__doc__.splitlines()[0])


def in_betweens(interp, tri, gt_score: Callable[[np.ndarray], float]) -> tuple[dict[str, np.ndarray], float]:
    """Every method's in-between of one triplet, and the time the timing oracle chose."""
    from comfyui_animeinterp.core.evaluate.methods import blend, dis_warp

    pair = interp.prepare(tri.frame1, tri.frame3)
    best, t_best = timing_oracle(lambda t: interp.frame_at(pair, t), gt_score)
    out = {"cross-fade": blend(tri.frame1, tri.frame3, tri.t), "dis": dis_warp(tri.frame1, tri.frame3, tri.t),
           "weight-free": interp.frame_at(pair, tri.t), "timing oracle (weight-free)": best}
    return out | oracle_in_betweens(tri.frame1, tri.frame2, tri.frame3, tri.t), t_best


def run(args: argparse.Namespace) -> dict:
    if not (args.data / "colour").is_dir():
        return {"skipped": f"development set not found at {args.data}"}
    from comfyui_animeinterp.core.io.images import to_tensor
    from comfyui_animeinterp.core.metrics import psnr
    from comfyui_animeinterp.core.pipeline import build_interpolator

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    lpips, lpips_note = lpips_model()
    interp = build_interpolator(None)
    rows, chosen_times, per_triplet = [], {}, []
    for name, size in SETS:
        scores: dict[str, dict[str, list[float]]] = {}
        for tri in dev_triplets(args.data / name, size, args.limit):
            gt = to_tensor(tri.frame2, "cpu")
            images, t_best = in_betweens(interp, tri, lambda image, gt=gt: float(psnr(to_tensor(image, "cpu"), gt)[0]))
            chosen_times.setdefault(name, []).append(t_best)
            psnrs = {}
            for method, image in images.items():
                entry = scores.setdefault(method, {"psnr": [], "ssim": [], "lpips": []})
                for key, value in zip(("psnr", "ssim", "lpips"), image_quality(to_tensor(image, "cpu"), gt, lpips)):
                    if value is not None:
                        entry[key].append(value)
                psnrs[method] = round(entry["psnr"][-1], 2)
            per_triplet.append({"set": name, "triplet": tri.name, "psnr": psnrs})
        for method, s in scores.items():
            rows.append({"set": name, "size": "960x540" if size else "native", "triplets": len(s["psnr"]),
                         "method": method, **against_baselines(s, scores["dis"], scores["cross-fade"])})
    return {"bench": "dev_ceiling", "environment": environment(), "lpips_note": lpips_note, "table": rows,
            "timing_oracle_times": chosen_times, "per_triplet_psnr": per_triplet}


if __name__ == "__main__":
    main(run, build_parser(), "dev_ceiling.json")
