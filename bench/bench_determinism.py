"""Determinism check: the same clip through ``animeinterp interpolate`` several times, on 1 and 2
threads, and the number of output frames that differ from the first run.

The clip is the development set's distinct drawings of one real scene (anidoc sample4, frames
4-12, resized to 960x540); run it on a loaded machine to shake the thread timing. Writes
``bench/results/determinism.json``.

    python bench/bench_determinism.py [--runs 1,2,2,1] [--multiplier 4] [--learned WEIGHTS]
    python bench/bench_determinism.py --dis-cost     # a fresh DIS object per segment: what it costs
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from comfyui_animeinterp.core import concurrency
from comfyui_animeinterp.core.cli import main
from comfyui_animeinterp.core.io.video import list_images, read_image, write_frames

_CLIPS = Path("shared") / "data" / "real_anime_dev" / "colour" / "anidoc_test_clips"
REAL = next((root / _CLIPS for root in (Path(__file__).resolve().parents[1] / "..", Path("/work"))
             if (root / _CLIPS).is_dir()), Path(__file__).resolve().parents[1] / ".." / _CLIPS)
"""The development set next to the repository (a worktree may sit one level deeper: /work/shared)."""
SCENE = ("sample4_f0004-0005-0006", "sample4_f0006-0007-0008", "sample4_f0008-0009-0010",
         "sample4_f0010-0011-0012")


def scene_frames(size: tuple[int, int] = (960, 540)) -> list[np.ndarray]:
    """The scene's distinct frames in order (triplets share their end frames)."""
    frames = []
    for k, triplet in enumerate(SCENE):
        for name in ("frame1.png", "frame2.png", "frame3.png")[(1 if k else 0):]:
            bgr = cv2.resize(cv2.imread(str(REAL / triplet / name)), size, interpolation=cv2.INTER_AREA)
            frames.append(np.ascontiguousarray(bgr[:, :, ::-1]))
    return frames


def run(clip: Path, out: Path, threads: int, multiplier: int, learned: str | None) -> float:
    concurrency.MAX_WORKERS = threads
    torch.set_num_threads(threads)
    model = ["--weights", learned, "--device", "cpu"] if learned else ["--weight-free"]
    start = time.perf_counter()
    status = main(["interpolate", str(clip), str(out), "-m", str(multiplier), "--quiet", *model])
    if status != 0:
        raise SystemExit(f"interpolate failed with status {status}")
    return time.perf_counter() - start


def dis_cost() -> dict:
    """Cost of a fresh DIS object per segment: creating one against one 60x60 patch's DIS."""
    from comfyui_animeinterp.core.sgm.coarse_flow import make_dis

    rng = np.random.default_rng(0)
    a = cv2.GaussianBlur(rng.integers(0, 255, (60, 60), dtype=np.uint8), (5, 5), 1.5)
    b = np.roll(a, 2, axis=1)
    n = 1000
    start = time.perf_counter()
    for _ in range(n):
        make_dis("original")
    create = (time.perf_counter() - start) / n
    dis = make_dis("original")
    start = time.perf_counter()
    for _ in range(50):
        dis.calc(a, b, None)
    calc = (time.perf_counter() - start) / 50
    return {"make_dis_us": round(create * 1e6, 1), "dis_60x60_us": round(calc * 1e6, 1),
            "overhead_percent": round(100 * create / calc, 2)}


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", default="1,2,2,1", help="thread count of each run")
    p.add_argument("--multiplier", type=int, default=4)
    p.add_argument("--learned", default=None, help="weights for the learned path (default: weight-free)")
    p.add_argument("--dis-cost", action="store_true", help="only time DIS object creation against a DIS call")
    p.add_argument("--out", type=Path,
                   default=Path(__file__).resolve().parent / "results" / "determinism.json")
    args = p.parse_args()
    if args.dis_cost:
        print(json.dumps(dis_cost(), indent=2))
        return
    threads = [int(t) for t in args.runs.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip"
        write_frames(clip, scene_frames())
        outputs, times = [], []
        for k, n in enumerate(threads):
            out = Path(tmp) / f"run{k}"
            times.append(run(clip, out, n, args.multiplier, args.learned))
            outputs.append([read_image(f) for f in list_images(out)])
        ref = outputs[0]
        runs = []
        for k, (n, frames, t) in enumerate(zip(threads, outputs, times)):
            diffs = [int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max()) for a, b in zip(ref, frames)]
            runs.append({"run": k, "threads": n, "frames": len(frames), "seconds": round(t, 1),
                         "differing_frames": sum(d > 0 for d in diffs), "max_level_difference": max(diffs)})
    result = {"path": "learned" if args.learned else "weight-free", "multiplier": args.multiplier,
              "source_frames": len(scene_frames()), "load_average_1min": os.getloadavg()[0],
              "opencv": cv2.__version__, "torch": torch.__version__, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main_()
