"""What reusing a frame's flow-net encoding saves when a clip is interpolated pair by pair.

A clip's interior frame is the second frame of one pair and the first of the next; the learned
flow net's encoding of it does not depend on the other frame (``Interpolator.encoding_memo``). This
bench walks a synthetic clip pair by pair with ``Interpolator.prepare`` (colour SGM + the flow
net, the per-pair work of a clip) in two ways, alternated pass by pass in one run:

* ``reused``: the interpolator as it is (each interior frame encoded once);
* ``fresh``: its encoding memo emptied before every pair (both frames encoded for every pair).

Random AFI weights (timing does not depend on the values). Reports the median seconds per pair of
each way, the saving, and the memo's counts.

Usage: ``python bench/bench_clip_encoding.py [--size 960x540] [--pairs 3] [--rounds 2] [--threads 2]``
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_model
from common import load_snapshot, machine_info, main


def _walk(interp, frames, fresh: bool) -> list[float]:
    """Seconds of ``prepare`` for pairs 1.. of ``frames`` (pair 0 first, untimed, so that the memos
    hold the first timed pair's first frame as a clip's walk would)."""
    from comfyui_animeinterp.core.clip.frame_memo import FrameMemo

    interp.prepare(frames[0], frames[1])
    seconds = []
    for k in range(1, len(frames) - 1):
        if fresh:
            interp.encoding_memo = FrameMemo(capacity=2)
        start = time.perf_counter()
        interp.prepare(frames[k], frames[k + 1])
        seconds.append(time.perf_counter() - start)
    return seconds


def run(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.data.synthetic import make_clip
    from comfyui_animeinterp.core.pipeline import Interpolator
    from comfyui_animeinterp.core.sgm.run import SGMOptions

    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    frames = make_clip(args.pairs + 2, h, w, seed=5)
    model = bench_model._model("afi")
    times: dict[str, list[float]] = {"reused": [], "fresh": []}
    counts = {}
    with torch.no_grad():
        for _ in range(args.rounds):
            for way in ("reused", "fresh"):
                interp = Interpolator(model, sgm=SGMOptions(features="colour"))
                times[way] += _walk(interp, frames, fresh=way == "fresh")
                counts[way] = {"misses": interp.encoding_memo.misses, "hits": interp.encoding_memo.hits}
    reused, fresh = statistics.median(times["reused"]), statistics.median(times["fresh"])
    return {"bench": "clip_encoding", "size": args.size, "threads": args.threads, "machine": machine_info(),
            "load": load_snapshot(), "pairs_timed_per_way": len(times["reused"]),
            "seconds_per_pair": {way: [round(s, 3) for s in ts] for way, ts in times.items()},
            "median_s_per_pair": {"reused": round(reused, 3), "fresh": round(fresh, 3)},
            "saved_s_per_pair": round(fresh - reused, 3), "saved_pct": round(100 * (fresh - reused) / fresh, 1),
            "encoding_memo_last_walk": counts}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="960x540", help="WxH")
    p.add_argument("--pairs", type=int, default=3, help="timed pairs per walk")
    p.add_argument("--rounds", type=int, default=2, help="walks of each way, alternated")
    p.add_argument("--threads", type=int, default=2)
    return p


if __name__ == "__main__":
    main(run, build_parser(), "clip_encoding.json")
