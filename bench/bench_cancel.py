"""Cancel latency of the one-click node: seconds from pressing Cancel to the node returning.

The node runs under the test stand-in for ComfyUI (``tests/support/fake_comfy.py``); a timer thread
presses Cancel ``--after`` seconds into the run (several delays land in different stages), and the
latency is the time from that moment to the node's interruption exception. Measured on the
weight-free path at 1920x1080 (no files needed) and on the learned path (randomly initialised
network: the same work as real weights) at ``--learned-size``.

Usage: ``python bench/bench_cancel.py [--after 1,4,8] [--size 1920x1080] [--learned-size 640x480]``
Writes ``bench/results/bench_cancel.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT.parent))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import write_result


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def cancel_latency(images: torch.Tensor, after: float, state, model=None) -> dict:
    """Run the node, press Cancel after ``after`` s; return latency and the stage it landed in."""
    from comfyui_animeinterp.nodes import progress as node_progress
    from comfyui_animeinterp.nodes.interpolate_node import AnimeInterpolate

    bars: list = []
    original = node_progress.NodeProgress.__init__

    def remember(self, *a, **k):
        original(self, *a, **k)
        bars.append(self)

    node_progress.NodeProgress.__init__ = remember
    pressed: dict = {}

    def press():
        pressed["t"] = time.perf_counter()
        pressed["stage"] = bars[-1].stage if bars else "?"
        state.cancel_now()

    state.interrupt_after = None
    timer = threading.Timer(after, press)
    t0 = time.perf_counter()
    timer.start()
    outcome = "finished"
    try:
        AnimeInterpolate().run(images, matching="colour", model=model)
    except Exception as e:  # noqa: BLE001 - the fake's InterruptProcessingException
        outcome = type(e).__name__
    end = time.perf_counter()
    timer.cancel()
    node_progress.NodeProgress.__init__ = original
    if "t" not in pressed:
        return {"after_s": after, "outcome": outcome, "run_s": round(end - t0, 2), "latency_s": None}
    return {"after_s": after, "stage": pressed["stage"], "outcome": outcome,
            "latency_s": round(end - pressed["t"], 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", default="1,4,8", help="seconds into the run to press Cancel")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--learned-size", default="640x480", help="'' skips the learned path")
    args = parser.parse_args()

    from comfyui_animeinterp.core.data.synthetic import make_triplet

    from tests.support.fake_comfy import install_fake_comfy, uninstall_fake_comfy

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import environment

    delays = [float(v) for v in args.after.split(",")]
    import os

    results = {"environment": {**environment(), "load_average_1min": os.getloadavg()[0]}, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        state = install_fake_comfy(Path(tmp))
        try:
            cases = [("weight-free", _size(args.size), None)]
            if args.learned_size:
                from comfyui_animeinterp.core.model import build_model

                torch.manual_seed(0)
                cases.append(("learned (random weights)", _size(args.learned_size),
                              build_model("afi").eval()))
            for name, (w, h), model in cases:
                tri = make_triplet(h, w, seed=0)
                images = torch.from_numpy(np.stack([tri.frame1, tri.frame3])).float() / 255
                for after in delays:
                    with torch.inference_mode():
                        row = {"path": name, "size": f"{w}x{h}", **cancel_latency(images, after, state, model)}
                    print(json.dumps(row))
                    results["runs"].append(row)
        finally:
            uninstall_fake_comfy()
    latencies = [r["latency_s"] for r in results["runs"] if r["latency_s"] is not None]
    results["max_latency_s"] = max(latencies) if latencies else None
    print(f"max cancel latency: {results['max_latency_s']} s")
    write_result("bench_cancel.json", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
