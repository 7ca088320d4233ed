"""``animeinterp interpolate`` in one process vs ``torchrun --nproc-per-node N``: wall time, same output.

A synthetic clip on twos with a new shot every 12 frames (``bench_memory.write_clip``), a folder in
and a folder out, the weight-free path by default. Every process gets ``--threads`` CPU threads
(``OMP_NUM_THREADS``; default ``cores // N`` for all runs, so the one process does not oversubscribe
a busy machine and the ratio shows the split alone); the wall times include starting the processes
(torch import, rendezvous) and the planning pass every process makes. ``identical`` says
whether the N-process folder equals the single-process one byte for byte.

Usage: ``python bench/bench_torchrun.py [--frames 48] [--size 480x270] [--processes 2]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import write_clip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(cmd: list[str], threads: int, timeout: float) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def _same(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names)


def run(args: argparse.Namespace) -> dict:
    import cv2
    import torch

    if args.device.startswith("cuda") and torch.cuda.device_count() < args.processes:
        return {"bench": "torchrun", "table": [],
                "skipped": f"{args.processes} processes need {args.processes} GPUs (one each); "
                           f"{torch.cuda.device_count()} visible"}
    w, h = (int(v) for v in args.size.lower().split("x"))
    cores = os.cpu_count() or 1
    threads = args.threads or max(1, cores // args.processes)
    model = ["--weights", args.weights] if args.weights else ["--weight-free"]
    common = ["--multiplier", str(args.multiplier), "--device", args.device, "--quiet", *model]
    cli = ["-m", "comfyui_animeinterp.core.cli", "interpolate"]
    with tempfile.TemporaryDirectory(prefix="bench_torchrun_") as tmp:
        root = Path(tmp)
        clip = write_clip(root, w, h, args.frames, "folder")
        one = _timed([sys.executable, *cli, str(clip), str(root / "one"), *common], threads, args.timeout)
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(args.processes),
                    "--master-addr", "127.0.0.1", "--master-port", str(_free_port())]
        many = _timed([*torchrun, *cli, str(clip), str(root / "many"), *common], threads, args.timeout)
        identical = _same(root / "one", root / "many")
        frames_out = len(list((root / "one").iterdir()))
    rows = [
        {"processes": 1, "threads_each": threads, "wall_s": round(one, 2)},
        {"processes": args.processes, "threads_each": threads, "wall_s": round(many, 2),
         "speedup": round(one / many, 2), "identical": identical},
    ]
    return {
        "bench": "torchrun",
        "what": "animeinterp interpolate, folder in -> folder out, 1 process vs torchrun (gloo on CPU)",
        "model": args.weights or "weight-free",
        "clip": f"{args.frames} frames {w}x{h}, on twos, x{args.multiplier} -> {frames_out} frames",
        "cpu": platform.processor() or platform.machine(),
        "cores": cores,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "table": rows,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=48, help="clip length (frames)")
    p.add_argument("--size", default="480x270", help="frame size WxH")
    p.add_argument("--multiplier", type=int, default=2)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="CPU threads per process (default cores // N)")
    p.add_argument("--weights", default=None, help="model name or file (default: weight-free)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=3600.0)
    return p


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
