"""Quality of the weight-free pipeline against the baselines on synthetic cartoons (PSNR).

The weight-free pipeline (SGM with colour features + DIS refinement + occlusion-aware splat
blending) must beat plain frame blending and plain DIS-flow warping (the evaluation's "dis"
baseline). Scenes come from ``core.data.synthetic.make_triplet`` with exact middle frames, at two motion
ranges: "moderate" (the generator's default, up to 4% of the width) and "large" (up to 10%).

Usage: ``python bench/bench_weight_free.py [--count 8] [--height 240 --width 432]``
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import environment

METHODS = ("weight-free", "dis", "blend")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=8, help="scenes per motion range")
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--width", type=int, default=432)
    p.add_argument("--threads", type=int, default=2)
    return p


def run(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.data.synthetic import make_triplet
    from comfyui_animeinterp.core.evaluate.methods import get_method
    from comfyui_animeinterp.core.metrics import psnr

    torch.set_num_threads(args.threads)
    methods = {m: get_method(m) for m in METHODS}
    rows = []
    for regime, shift in (("moderate", None), ("large", 0.10 * args.width)):
        scores = {m: [] for m in METHODS}
        seconds = {m: [] for m in METHODS}
        for seed in range(args.count):
            tri = make_triplet(args.height, args.width, seed=seed, max_shift=shift)
            gt = torch.from_numpy(tri.frame2).permute(2, 0, 1)[None].float() / 255
            for m, fn in methods.items():
                t0 = time.perf_counter()
                out = fn(tri.frame1, tri.frame3, 0.5)
                seconds[m].append(time.perf_counter() - t0)
                pred = torch.from_numpy(out).permute(2, 0, 1)[None].float() / 255
                scores[m].append(float(psnr(pred, gt)))
        row = {"motion": regime, "size": f"{args.width}x{args.height}", "scenes": args.count}
        for m in METHODS:
            row[f"{m}_psnr"] = round(statistics.mean(scores[m]), 2)
        for m in METHODS:
            row[f"{m}_s"] = round(statistics.median(seconds[m]), 3)
        row["gain_vs_blend_db"] = round(row["weight-free_psnr"] - row["blend_psnr"], 2)
        row["gain_vs_dis_db"] = round(row["weight-free_psnr"] - row["dis_psnr"], 2)
        row["wins_vs_dis"] = f"{sum(a > b for a, b in zip(scores['weight-free'], scores['dis']))}/{args.count}"
        rows.append(row)
    return {"bench": "weight_free", "environment": environment(), "table": rows}


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
