"""Peak memory and speed of ``animeinterp interpolate`` vs clip length (it streams: memory stays flat).

Each length runs the CLI in a fresh process on a synthetic clip (drawings on twos, a new shot every
12 frames; ``bench_memory.write_clip``) read from a video and written to a video, and records the
child's peak resident set size (``bench_memory.measure``) and wall time. The weight-free path is the
default (no downloads); ``--weights NAME`` measures the learned model instead.

Usage: ``python bench/bench_interpolate.py [--lengths 100,1000] [--size 256x144] [--multiplier 2]``
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import measure, write_clip


def run(args: argparse.Namespace) -> dict:
    import cv2
    import torch

    w, h = (int(v) for v in args.size.lower().split("x"))
    model = ["--weights", args.weights] if args.weights else ["--weight-free"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_interpolate_") as tmp:
        root = Path(tmp)
        for n in (int(v) for v in args.lengths.split(",") if v):
            clip = write_clip(root, w, h, n, "video")
            out = root / f"out_{n}.mp4"
            cmd = [sys.executable, "-m", "comfyui_animeinterp.core.cli", "interpolate", str(clip), str(out),
                   "--multiplier", str(args.multiplier), "--device", args.device, "--quiet", *model]
            result = measure(cmd, args.timeout)
            frames_out = (n - 1) * args.multiplier + 1
            rows.append({"frames_in": n, "frames_out": frames_out, "size": f"{w}x{h}", **result,
                         "ms_per_output_frame": round(1000 * result["wall_s"] / frames_out, 1)})
    return {
        "bench": "interpolate",
        "what": "animeinterp interpolate, video in -> video out, peak RSS of the CLI process",
        "model": args.weights or "weight-free",
        "device": args.device,
        "threads": "torch default (2 cores here)",
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "table": rows,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", default="100,1000", help="comma-separated clip lengths (frames)")
    p.add_argument("--size", default="256x144", help="frame size WxH")
    p.add_argument("--multiplier", type=int, default=2)
    p.add_argument("--weights", default=None, help="model name or file (default: weight-free)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=3600.0)
    return p


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
