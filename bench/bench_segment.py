"""Speed of the SGM segmentation (``core.sgm.segment.segment_frame``), step by step.

For each input pair and line preset, both frames are segmented ``--repeats`` times after one
warm-up; the JSON holds the median seconds per step (over repeats and both frames, i.e. per
frame) and the segment counts. Steps: ``bilateral`` (OpenCV's bilateral filter, reported apart:
it is OpenCV's own cost), ``lines`` (Laplacian + hysteresis + threshold), ``trapped_ball_r3/r2/r1``,
``flood_fill``, ``merge``, ``thinning``, ``relabel``, ``total`` and ``total_without_bilateral``.

Inputs: the synthetic pair ``make_triplet(height, width)`` and, when the folder exists, a real
pair (``frame1.png``/``frame3.png`` of ``--real``, default a One Piece triplet of the project's
development set) resized to ``width x height`` with ``cv2.resize`` (bilinear), as the original did.

Usage: ``python bench/bench_segment.py [--height 540 --width 960] [--real DIR] [--presets japan,disney]``
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_REAL, bench_pairs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=540)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--real", type=Path, default=DEFAULT_REAL,
                   help="folder with frame1.png and frame3.png (skipped when missing)")
    p.add_argument("--presets", default="japan,disney")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    return p


def run(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.sgm.segment import segment_frame

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    results, table = {}, []
    for name, frames in bench_pairs(args.height, args.width, args.real).items():
        for preset in args.presets.split(","):
            for frame in frames:  # warm-up (also builds the histogram bin table once)
                segment_frame(frame, preset)
            samples: dict[str, list[float]] = {}
            counts = []
            for _ in range(args.repeats):
                counts = []
                for frame in frames:
                    timings: dict[str, float] = {}
                    labels = segment_frame(frame, preset, timings=timings)
                    timings["total_without_bilateral"] = timings["total"] - timings["bilateral"]
                    counts.append(int(labels.max()) + 1)
                    for step, seconds in timings.items():
                        samples.setdefault(step, []).append(seconds)
            median = {step: statistics.median(v) for step, v in samples.items()}
            results[f"{name}/{preset}"] = {"median_s_per_frame": median, "segments": counts}
            table.append({
                "stage": f"segment {name} ({preset})",
                "size": f"{args.width}x{args.height}",
                "device": "cpu",
                "ms_per_frame": round(median["total"] * 1e3, 1),
                "ms_without_bilateral": round(median["total_without_bilateral"] * 1e3, 1),
                "bilateral_ms": round(median["bilateral"] * 1e3, 1),
                "segments": "/".join(map(str, counts)),
            })
    return {
        "bench": "segment",
        "device": f"cpu ({platform.processor() or platform.machine()}, {args.threads} threads)",
        "size": f"{args.width}x{args.height}",
        "versions": {"numpy": np.__version__, "opencv": cv2.__version__, "torch": torch.__version__},
        "repeats": args.repeats,
        "real_pair": str(args.real) if "real" in {k.split("/")[0] for k in results} else None,
        "results": results,
        "table": table,
    }


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
