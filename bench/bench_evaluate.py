"""Speed of the evaluation metrics and the two baselines, on one frame size.

Times (median over ``--repeats`` after one warm-up, ``torch.set_num_threads(--threads)``):

* metrics on one frame pair: PSNR, SSIM (table convention), Gaussian SSIM (kornia), LPIPS
  (random AlexNet weights: the speed does not depend on the values), and scikit-image's SSIM with
  the same convention — the ratio ``ssim_vs_skimage`` compares the two in this run;
* baselines on one triplet: ``blend`` and ``dis`` (DIS flow both ways + warp).

Torch metrics run on ``--device`` (``cuda`` when available; LPIPS then also in ``--dtype bf16``).

Usage: ``python bench/bench_evaluate.py [--height 540 --width 960] [--device cpu|cuda] [--dtype fp32|bf16]``
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import cv2
import numpy as np
import torch


def _median_time(fn, repeats: int, sync=lambda: None) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.data.synthetic import make_triplet
    from comfyui_animeinterp.core.evaluate.methods import blend, dis_warp
    from comfyui_animeinterp.core.io.images import to_tensor
    from comfyui_animeinterp.core.metrics import psnr, ssim, ssim_gaussian
    from comfyui_animeinterp.core.metrics.lpips import LPIPS

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
    tri = make_triplet(args.height, args.width, seed=0)
    pred = blend(tri.frame1, tri.frame3, 0.5)
    p, g = to_tensor(pred, device), to_tensor(tri.frame2, device)
    model = LPIPS().to(device)
    for prm in model.parameters():
        prm.data.normal_(0, 0.05).abs_()
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]

    def lpips_call():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            model(p, g)

    times = {
        "psnr": _median_time(lambda: psnr(p, g), args.repeats, sync),
        "ssim": _median_time(lambda: ssim(p, g), args.repeats, sync),
        "ssim_gauss": _median_time(lambda: ssim_gaussian(p, g), args.repeats, sync),
        "lpips": _median_time(lpips_call, args.repeats, sync),
        "blend": _median_time(lambda: blend(tri.frame1, tri.frame3, 0.5), args.repeats),
        "dis": _median_time(lambda: dis_warp(tri.frame1, tri.frame3, 0.5), args.repeats),
    }
    result = {
        "bench": "evaluate",
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
                                 f" ({platform.processor() or platform.machine()}, {args.threads} threads)"),
        "dtype": args.dtype,
        "size": f"{args.width}x{args.height}",
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__},
        "median_s": times,
        "repeats": args.repeats,
        "table": [{"stage": k, "size": f"{args.width}x{args.height}", "device": device.type, "dtype": args.dtype
                   if k == "lpips" else "fp64" if k.startswith(("ssim", "psnr")) else "uint8",
                   "median_s": round(v, 5)} for k, v in times.items()],
    }
    try:
        from skimage.metrics import structural_similarity

        a, b = pred.astype(np.float32) / 255, tri.frame2.astype(np.float32) / 255
        sk = _median_time(lambda: structural_similarity(a, b, channel_axis=2, data_range=2.0), args.repeats)
        result["median_s"]["skimage_ssim"] = sk
        result["ssim_vs_skimage"] = round(sk / times["ssim"], 2) if device.type == "cpu" else None
    except ImportError:
        result["ssim_vs_skimage"] = None
    return result


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--height", type=int, default=540)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    return p


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
