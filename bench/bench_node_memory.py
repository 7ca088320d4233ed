"""Resident memory of the Style Finetune node: before, at the peak, and after (released + trimmed).

Each configuration runs in a fresh child process under the test stand-in for ComfyUI
(``tests/support/fake_comfy.py``), with randomly initialised networks of the real sizes (the
memory does not depend on the weights' values) and a synthetic cartoon clip as style frames. A
thread samples ``VmRSS`` every 20 ms. Reported, in MB:

* ``before``: the model and VGG-19 loaded, nothing run yet;
* ``peak``: the highest sample while the node ran;
* ``after_run``: the node returned (its outputs dropped);
* ``after_release``: after ComfyUI's "unload models" (``unload_all_models``, hooked to release our
  cache and trim the heap).

Usage: ``python bench/bench_node_memory.py [--crop 380] [--batch 2] [--steps 2] [--size 640x360]
[--low-memory both|on|off]``. Writes ``bench/results/bench_node_memory.json``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(args: argparse.Namespace) -> dict:
    """One measurement (runs in the child process)."""
    sys.path[:0] = [str(ROOT.parent), str(ROOT)]
    import numpy as np
    import torch
    from comfyui_animeinterp.core.data.synthetic import make_clip

    from tests.support.fake_comfy import install_fake_comfy
    from tests.support.model_files import write_model_file, write_vgg_file

    tmp = Path(tempfile.mkdtemp())
    fake = install_fake_comfy(tmp)
    from comfyui_animeinterp.nodes import memory, model_cache
    from comfyui_animeinterp.nodes.model_nodes import LoadAnimeInterpModel
    from comfyui_animeinterp.nodes.train_nodes import StyleFinetune

    memory.hook_model_management(model_cache.release_all)
    folder = fake.models_dir / "animeinterp"
    write_model_file(folder / "afi-atd12k-style.safetensors", variant="afi")
    write_vgg_file(folder / "vgg19.safetensors")
    w, h = (int(v) for v in args.size.split("x"))
    frames = make_clip(6, h, w, seed=2, hold=1)
    images = torch.from_numpy(np.stack(frames)).float() / 255
    with torch.inference_mode():
        (model,) = LoadAnimeInterpModel().load("afi-atd12k-style")
    model_cache.load_vgg("vgg19", torch.device("cpu"))
    memory.trim()
    before = _rss_mb()
    peak = [before]
    running = [True]

    def sample():
        while running[0]:
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    with torch.inference_mode():
        outputs = StyleFinetune().finetune(
            model, data="", steps=args.steps, lr=1e-5, loss_preset="style", name="bench", images=images,
            crop=args.crop, batch_size=args.batch, train="all", init_flows="sgm (colour, weight-free)",
            vgg_weights="vgg19", checkpoint_every=1000, seed=0, low_memory=args.low_memory == "on")
    seconds = time.perf_counter() - t0
    running[0] = False
    sampler.join()
    del outputs
    after_run = _rss_mb()
    del model
    sys.modules["comfy.model_management"].unload_all_models()
    after_release = _rss_mb()
    return {"low_memory": args.low_memory, "crop": args.crop, "batch": args.batch, "steps": args.steps,
            "size": args.size, "seconds": round(seconds, 1), "before_mb": round(before),
            "peak_mb": round(peak[0]), "after_run_mb": round(after_run),
            "after_release_mb": round(after_release)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, default=380)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", default="640x360", help="style frames WxH")
    parser.add_argument("--low-memory", default="both", choices=("both", "on", "off"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    rows = []
    for mode in (("off", "on") if args.low_memory == "both" else (args.low_memory,)):
        cmd = [sys.executable, __file__, "--child", "--crop", str(args.crop), "--batch", str(args.batch),
               "--steps", str(args.steps), "--size", args.size, "--low-memory", mode]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(json.dumps(row))
        rows.append(row)
    sys.path.insert(0, str(ROOT / "bench"))
    from common import write_result

    write_result("bench_node_memory.json", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
