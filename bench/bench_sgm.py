"""Speed of the whole SGM stage (segment both frames, match, coarse flow both directions).

Reports, per input pair and preset, median seconds for:

* ``segment`` — both frames (of which ``bilateral``, OpenCV's own filter, is listed apart);
* ``vgg_forward`` — VGG-19 up to relu4_1 on both frames (random weights: same cost as ImageNet's);
* ``match_without_vgg`` — per-segment pooling, normalisation, affinity and mutual matching;
* ``coarse_flow`` — both directions (per-segment DIS in a thread pool);
* ``total_without_vgg`` — the figure the issue targets (<= 0.5 s at 960x540 on 2 cores);
* ``coarse_flow_fast_dis`` / ``total_without_vgg_fast_dis`` — the same with the "fast" DIS
  settings the weight-free pipeline uses (not the original's numerics).

The original AFI ``gen_sgm.py`` took 110-117 s for a real 960x540 pair on this machine
(ARCHITECTURE.md §12); the ratio is printed against that recorded figure.

Usage: ``python bench/bench_sgm.py [--height 540 --width 960] [--real DIR] [--device cpu|cuda]``
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_REAL, bench_pairs, environment, median_time

ORIGINAL_SECONDS_REAL_960x540 = 110.0
"""Recorded time of the original SGM on a real 960x540 pair here (issue 2 / ARCHITECTURE.md §12)."""
ORIGINAL_VGG_SECONDS = 5.5
"""The original's VGG-19 forward (both frames, incl. the unused relu5_1 slice), ARCHITECTURE.md §12."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=540)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--real", type=Path, default=DEFAULT_REAL)
    p.add_argument("--presets", default="japan,disney")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="device of the VGG forward and matching")
    return p


def run(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.features.vgg19 import random_vgg19
    from comfyui_animeinterp.core.sgm.describe import vgg_features

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    vgg = random_vgg19(0).to(device)
    rows = []
    for name, (f1, f3) in bench_pairs(args.height, args.width, args.real).items():
        def vgg_forward(f1=f1, f3=f3):
            out = [vgg_features(vgg, f, device) for f in (f1, f3)]
            if device.type == "cuda":
                torch.cuda.synchronize()
            return out

        t_vgg = median_time(vgg_forward, args.repeats)
        feats = vgg_forward()
        for preset in args.presets.split(","):
            row = {"input": name, **_time_preset(f1, f3, feats, preset, device, args.repeats),
                   "vgg_forward_s": round(t_vgg, 4)}
            total = row["total_without_vgg_s"]
            row["total_s"] = round(total + t_vgg, 4)
            if name == "real" and (args.width, args.height) == (960, 540):
                row["speedup_vs_original"] = round(ORIGINAL_SECONDS_REAL_960x540 / (total + t_vgg), 1)
                row["speedup_without_vgg"] = round((ORIGINAL_SECONDS_REAL_960x540 - ORIGINAL_VGG_SECONDS) / total, 1)
            rows.append(row)
    return {"bench": "sgm", "environment": environment(), "table": rows, "details": {}}


def _time_preset(f1, f3, feats: list, preset: str, device: torch.device, repeats: int) -> dict:
    """Median seconds of one pair's SGM steps with one line preset (the VGG forward timed apart)."""
    from comfyui_animeinterp.core.concurrency import run_pair
    from comfyui_animeinterp.core.sgm.coarse_flow import coarse_flow
    from comfyui_animeinterp.core.sgm.describe import pool_features
    from comfyui_animeinterp.core.sgm.match import match_segments
    from comfyui_animeinterp.core.sgm.segment import PRESETS, segment_frame

    bilateral = PRESETS[preset].bilateral
    t_bilateral = median_time(lambda: [cv2.bilateralFilter(f, *bilateral) for f in (f1, f3)], repeats)
    # both frames on two threads, as run_sgm does
    t_seg = median_time(lambda: run_pair(lambda f: segment_frame(f, preset), f1, f3), repeats)
    l1, l3 = segment_frame(f1, preset), segment_frame(f3, preset)
    features = {id(f1): feats[0], id(f3): feats[1]}

    def cached_features(frame, labels, n):
        return pool_features(features[id(frame)], labels, n)

    def match():
        return match_segments(f1, f3, l1, l3, feature_fn=cached_features, device=device)

    t_match = median_time(match, repeats)
    m = match()
    t_flow = median_time(lambda: coarse_flow(f1, f3, m), repeats)
    t_flow_fast = median_time(lambda: coarse_flow(f1, f3, m, dis="fast"), repeats)
    total = t_seg + t_match + t_flow
    return {
        "preset": preset, "size": f"{f1.shape[1]}x{f1.shape[0]}", "device": str(device),
        "segments": f"{int(l1.max()) + 1}/{int(l3.max()) + 1}",
        "mutual_matches": len(m.mutual_pairs()),
        "segment_s": round(t_seg, 4),
        "bilateral_s": round(t_bilateral, 4),
        "match_without_vgg_s": round(t_match, 4),
        "coarse_flow_s": round(t_flow, 4),
        "total_without_vgg_s": round(total, 4),
        "coarse_flow_fast_dis_s": round(t_flow_fast, 4),
        "total_without_vgg_fast_dis_s": round(t_seg + t_match + t_flow_fast, 4),
    }


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
