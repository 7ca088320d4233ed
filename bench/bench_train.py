"""Style fine-tuning: time per optimizer step and the size of the SGM flow cache per triplet.

* ``step``: one Adam step of the full model on a random ``--crop`` square (batch ``--batch``):
  forward (both flow directions, 12 iterations, splatting, GridNet), the thesis style loss
  (L1 + VGG + Gram, VGG-19 taps up to relu5_2), backward, Adam; median after a warm-up, with a
  breakdown. Random weights (timing does not depend on the values).
* ``flow_cache``: SGM coarse flows (weight-free colour features) of 960x540 pairs — a synthetic
  one and, when present, a real one from the development set — stored the way the trainer caches
  them (int16 1/16 px, compressed), against the original's two float64 ``.npy`` files.

Usage: ``python bench/bench_train.py [--variant afi] [--crop 380] [--batch 1] [--device cpu]``
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import bench_pairs, environment

ORIGINAL_FLOW_BYTES = 2 * 2 * 540 * 960 * 8  # guide_flo13.npy + guide_flo31.npy, float64


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="afi", choices=("afi", "animeinterp"))
    p.add_argument("--crop", type=int, default=380)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--no-flows", action="store_true", help="skip the flow-cache measurement")
    return p


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_step(args: argparse.Namespace) -> dict:
    from comfyui_animeinterp.core.features.vgg19 import random_vgg19
    from comfyui_animeinterp.core.model import build_model
    from comfyui_animeinterp.core.train.losses import LossWeights, StyleLoss

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = build_model(args.variant).to(device).train()
    if model.flow_net.update.aggregator is not None:
        with torch.no_grad():
            model.flow_net.update.aggregator.gamma.fill_(0.5)
    loss_fn = StyleLoss(random_vgg19(0).to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-6)
    g = torch.Generator().manual_seed(0)
    n, c = args.batch, args.crop
    f1, f2, f3 = (torch.rand(n, 3, c, c, generator=g).to(device) for _ in range(3))
    flow = (4 * torch.randn(n, 2, c, c, generator=g)).to(device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if args.dtype == "bf16" else None
    phases: dict[str, list[float]] = {"forward": [], "loss": [], "backward": [], "adam": [], "step": []}

    def once() -> dict[str, float]:
        t = [time.perf_counter()]
        if amp is not None:
            with amp:
                out = model(f1, f3, flow, -flow, 0.5)[0]
        else:
            out = model(f1, f3, flow, -flow, 0.5)[0]
        _sync(device)
        t.append(time.perf_counter())
        loss = loss_fn(out.float(), f2, LossWeights(1.0, 0.25, 40.0)).total
        _sync(device)
        t.append(time.perf_counter())
        loss.backward()
        _sync(device)
        t.append(time.perf_counter())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(device)
        t.append(time.perf_counter())
        return dict(zip(("forward", "loss", "backward", "adam"), (b - a for a, b in itertools.pairwise(t))))

    once()  # warm-up
    for _ in range(args.repeats):
        parts = once()
        for k, v in parts.items():
            phases[k].append(v)
        phases["step"].append(sum(parts.values()))
    result = {f"{k}_s": round(statistics.median(v), 3) for k, v in phases.items()}
    if device.type == "cuda":
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return result


def bench_flow_cache() -> dict:
    from comfyui_animeinterp.core.sgm.run import SGMOptions
    from comfyui_animeinterp.core.train.flow_cache import compute_flows, save_flows

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (a, b) in bench_pairs(540, 960).items():
            t0 = time.perf_counter()
            flows = compute_flows(a, b, SGMOptions(features="colour"))
            seconds = time.perf_counter() - t0
            size = save_flows(Path(tmp) / f"{name}.npz", *flows)
            out[name] = {
                "bytes": size,
                "vs_original": round(ORIGINAL_FLOW_BYTES / size, 1),
                "gb_per_10k_triplets": round(size * 10_000 / 1e9, 2),
                "sgm_s": round(seconds, 1),
            }
    out["original_bytes"] = ORIGINAL_FLOW_BYTES
    return out


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    result = {
        "environment": environment(),
        "variant": args.variant,
        "crop": args.crop,
        "batch": args.batch,
        "device": args.device,
        "dtype": args.dtype,
        "step": bench_step(args),
    }
    if not args.no_flows:
        result["flow_cache"] = bench_flow_cache()
    result["table"] = [
        {
            "measure": f"step {args.variant} crop {args.crop} batch {args.batch} ({args.device}, "
            f"{args.dtype})",
            **result["step"],
        }
    ]
    return result


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
