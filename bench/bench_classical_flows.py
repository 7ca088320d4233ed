"""Classical dense flows on the real development set, through the DIS-warp baseline's formula.

Is a better classical flow than OpenCV's DIS (MEDIUM preset) there to take for the weight-free
path? Each flow (both directions) makes an in-between the way the ``dis`` evaluation baseline
does (``core.evaluate.methods.dis_warp``: both frames backward-warped to t along the other
direction's flow and blended); mean PSNR per set (colour at 960x540, line art native) and the
median seconds per pair:

* DIS, MEDIUM and variations of its settings and inputs (pre-blur, the pair's first principal
  colour component instead of grey);
* OpenCV-contrib's dense flows (SparseToDense, DenseRLOF, PCAFlow; with ``--slow`` DeepFlow and
  DualTVL1, minutes per pair at 960x540) when ``cv2.optflow`` imports: run with an
  opencv-contrib build first on the path, e.g. ``PYTHONPATH=<folder with opencv-contrib-python's
  cv2> python bench/bench_classical_flows.py`` (unpack its wheel there; never install it beside
  opencv-python).

Measured 2026-12-03 14:30 UTC (2 threads, quiet; opencv-contrib-python-headless 5.0.0.93 unpacked
first on the path; ``bench/results/classical_flows.json``; colour ; line art dB): DIS MEDIUM 27.19 ;
22.26; every DIS variation above 27.16-27.23 ; 22.10-22.27 (ULTRAFAST 27.15 ; 21.93); SparseToDense
25.79 ; 21.69, DenseRLOF 25.51 ; 21.75, PCAFlow 26.27 ; 21.74. None is better than DIS, so the
weight-free path keeps it (issue 14).

Usage: ``python bench/bench_classical_flows.py [--data .../real_anime_dev] [--limit N] [--slow]``
Writes ``bench/results/classical_flows.json``.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import dev_set_parser, dev_triplets, environment, main

SETS = (("colour", (960, 540)), ("lineart", None))
Flow = Callable[[np.ndarray, np.ndarray], np.ndarray]  # uint8 RGB a, b -> (H, W, 2) flow a -> b


def grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def first_component(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both frames projected on the pair's first principal colour component, as uint8."""
    pixels = np.concatenate([a.reshape(-1, 3), b.reshape(-1, 3)]).astype(np.float32)
    mean = pixels.mean(axis=0)
    axis = np.linalg.eigh(np.cov((pixels - mean).T))[1][:, -1]
    axis = axis if axis.sum() >= 0 else -axis
    projected = [((f.reshape(-1, 3) - mean) @ axis).reshape(f.shape[:2]) for f in (a, b)]
    low, high = min(p.min() for p in projected), max(p.max() for p in projected)
    return tuple(np.clip((p - low) / max(high - low, 1e-6) * 255, 0, 255).astype(np.uint8) for p in projected)


def dis(preset: int = cv2.DISOpticalFlow_PRESET_MEDIUM, prepare: str = "grey", **settings) -> Flow:
    """DIS (a fresh object per call) with ``settings`` (``PatchSize=8`` -> ``setPatchSize(8)``)."""
    def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if prepare == "pca":
            ga, gb = first_component(a, b)
        elif prepare.startswith("blur"):
            sigma = float(prepare[4:])
            ga, gb = (cv2.GaussianBlur(grey(f), (0, 0), sigma) for f in (a, b))
        else:
            ga, gb = grey(a), grey(b)
        d = cv2.DISOpticalFlow_create(preset)
        for name, value in settings.items():
            getattr(d, f"set{name}")(value)
        return d.calc(ga, gb, None)
    return flow


def contrib(factory: str, colour: bool = False) -> Flow:
    """An ``cv2.optflow`` dense flow made by ``factory`` (grey input unless ``colour``, BGR)."""
    def flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        algorithm = getattr(cv2.optflow, factory)()
        if colour:
            return algorithm.calc(np.ascontiguousarray(a[..., ::-1]), np.ascontiguousarray(b[..., ::-1]), None)
        return algorithm.calc(grey(a), grey(b), None)
    return flow


def flows(slow: bool) -> dict[str, Flow]:
    found = {
        "DIS medium": dis(),
        "DIS ultrafast": dis(cv2.DISOpticalFlow_PRESET_ULTRAFAST),
        "DIS medium, blur 1": dis(prepare="blur1"),
        "DIS medium, blur 2": dis(prepare="blur2"),
        "DIS medium, first colour component": dis(prepare="pca"),
        "DIS patch 12, stride 4": dis(PatchSize=12, PatchStride=4),
        "DIS patch 16, stride 4": dis(PatchSize=16, PatchStride=4),
        "DIS 40 descent iterations": dis(GradientDescentIterations=40),
        "DIS 20 variational iterations": dis(VariationalRefinementIterations=20),
        "DIS alpha 5": dis(VariationalRefinementAlpha=5.0),
        "DIS alpha 40": dis(VariationalRefinementAlpha=40.0),
        "DIS gamma 0": dis(VariationalRefinementGamma=0.0),
        "DIS gamma 30": dis(VariationalRefinementGamma=30.0),
    }
    if hasattr(cv2, "optflow"):
        found |= {"SparseToDense": contrib("createOptFlow_SparseToDense"),
                  "DenseRLOF": contrib("createOptFlow_DenseRLOF", colour=True),
                  "PCAFlow": contrib("createOptFlow_PCAFlow")}
        if slow:
            found |= {"DeepFlow": contrib("createOptFlow_DeepFlow"), "DualTVL1": contrib("createOptFlow_DualTVL1")}
    return found


def warp_blend(a: np.ndarray, b: np.ndarray, flow_ab: np.ndarray, flow_ba: np.ndarray, t: float) -> np.ndarray:
    """The ``dis`` baseline's in-between from ``(H, W, 2)`` flows (uint8 RGB)."""
    h, w = a.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)

    def sample(frame: np.ndarray, flow: np.ndarray, scale: float) -> np.ndarray:
        return cv2.remap(frame, xs + scale * flow[..., 0], ys + scale * flow[..., 1], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    mix = (1.0 - t) * sample(a, flow_ba, t) + t * sample(b, flow_ab, 1.0 - t)
    return np.clip(np.floor(mix + 0.5), 0, 255).astype(np.uint8)


def build_parser() -> argparse.ArgumentParser:
    p = dev_set_parser(__doc__.splitlines()[0])
    p.add_argument("--slow", action="store_true", help="also DeepFlow and DualTVL1 (minutes per pair)")
    return p


def run(args: argparse.Namespace) -> dict:
    if not (args.data / "colour").is_dir():
        return {"skipped": f"development set not found at {args.data}"}
    from comfyui_animeinterp.core.io.images import to_tensor
    from comfyui_animeinterp.core.metrics import psnr

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    methods = flows(args.slow)
    rows = []
    for name, size in SETS:
        scores = {m: {"psnr": [], "s": []} for m in methods}
        for tri in dev_triplets(args.data / name, size, args.limit):
            gt = to_tensor(tri.frame2, "cpu")
            for method, flow in methods.items():
                start = time.perf_counter()
                ab, ba = flow(tri.frame1, tri.frame3), flow(tri.frame3, tri.frame1)
                scores[method]["s"].append(time.perf_counter() - start)
                out = warp_blend(tri.frame1, tri.frame3, ab, ba, tri.t)
                scores[method]["psnr"].append(float(psnr(to_tensor(out, "cpu"), gt)[0]))
        rows += [{"set": name, "size": "960x540" if size else "native", "flow": m,
                  "triplets": len(s["psnr"]), "psnr": round(statistics.mean(s["psnr"]), 2),
                  "s_per_pair": round(statistics.median(s["s"]), 3)} for m, s in scores.items()]
    return {"bench": "classical_flows", "environment": environment(), "contrib": hasattr(cv2, "optflow"),
            "table": rows}


if __name__ == "__main__":
    main(run, build_parser(), "classical_flows.json")
