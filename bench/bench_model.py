"""Speed and memory of the learned model (RFR+GMA / RFR + splatting + GridNet).

Measures, at 960x540 by default and with random weights (timing does not depend on the values):

* ``single``: one in-between (estimate + synthesize at t = 0.5), median wall time;
* ``x4``: three in-betweens from one pair (estimate once + synthesize at 0.25, 0.5, 0.75);
* ``stages``: per-stage times of one single run (encoder, correlation build / lookups, GMA
  attention, update iterations, upsampling, feature pyramid, splatting, GridNet);
* peak memory of a fresh child process doing one x4 run (CPU: peak RSS; CUDA: peak allocated).

The ``speedup_*`` figures here divide the original code's RECORDED figures (ARCHITECTURE.md §12,
CPU, 2 threads, 960x540: 56 s (AFI) / 50 s (AnimeInterp) per in-between, 3.9 GB peak RSS) by ours,
so they mix two runs; ``bench/bench_original.py`` runs the original code beside ours in one run. Above 1 MP one repeat is taken (and no warm-up run) unless ``--repeats`` is set.

Usage: ``python bench/bench_model.py [--variant afi|animeinterp|both] [--height 540 --width 960]
[--device cpu|cuda --dtype fp32|bf16|fp16] [--quiet-below 10]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager

import torch

ORIGINAL_SECONDS = {"afi": 56.0, "animeinterp": 50.0}  # ARCHITECTURE.md §12, one in-between, 960x540
ORIGINAL_PEAK_GB = 3.9
X4_TIMES = (0.25, 0.5, 0.75)
DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
LARGE_PIXELS = 1_000_000


def _inputs(height: int, width: int, device: str = "cpu", seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    frame1 = torch.rand(1, 3, height, width, generator=g)
    frame2 = torch.rand(1, 3, height, width, generator=g)
    init = 4 * torch.randn(1, 2, height, width, generator=g)
    return tuple(x.to(device) for x in (frame1, frame2, init, -init))


def _model(variant: str, device: str = "cpu", dtype: str = "fp32"):
    from comfyui_animeinterp.core.model import build_model

    torch.manual_seed(0)
    model = build_model(variant).eval()
    if model.flow_net.update.aggregator is not None:
        with torch.no_grad():
            model.flow_net.update.aggregator.gamma.fill_(0.5)  # a live GMA branch
    model.autocast_dtype = DTYPES[dtype]
    return model.to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def cpu_pressure() -> float | None:
    """Share of the last 10 s some task waited for a CPU (Linux PSI), in %; None if unavailable."""
    try:
        with open("/proc/pressure/cpu") as f:
            return float(f.readline().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


_QUIET = {"threshold": None, "max_wait_s": 0.0}


def _wait_until_quiet() -> None:
    """With ``--quiet-below P``: wait (up to ``--max-wait`` s) until CPU pressure is below P %."""
    if _QUIET["threshold"] is None:
        return
    deadline = time.monotonic() + _QUIET["max_wait_s"]
    while time.monotonic() < deadline:
        pressure = cpu_pressure()
        if pressure is None or pressure < _QUIET["threshold"]:
            return
        time.sleep(2.0)


def _run(model, inputs, times, device: str = "cpu") -> float:
    _wait_until_quiet()
    _sync(device)
    start = time.perf_counter()
    state = model.estimate(*inputs)
    for t in times:
        model.synthesize(state, t)
    _sync(device)
    return time.perf_counter() - start


class StageTimer:
    """Accumulates wall time per pipeline stage through hooks and light wrappers (CPU timing)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list = []

    def _hook(self, module: torch.nn.Module, stage: str) -> None:
        starts = []

        def start(*_):
            starts.append(time.perf_counter())

        def stop(*_):
            self.seconds[stage] += time.perf_counter() - starts.pop()

        self._undo.append(module.register_forward_pre_hook(start).remove)
        self._undo.append(module.register_forward_hook(stop).remove)

    def _wrap(self, owner, name: str, stage: str) -> None:
        raw = vars(owner)[name]  # keeps a staticmethod a staticmethod
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        setattr(owner, name, staticmethod(timed) if isinstance(raw, staticmethod) else timed)
        self._undo.append(lambda: setattr(owner, name, raw))

    @contextmanager
    def attached(self, model):
        from comfyui_animeinterp.core.model import corr, flownet, interpolator

        self._hook(model.flow_net.encoder, "encoder")
        if model.flow_net.attention is not None:
            self._hook(model.flow_net.attention, "gma_attention")
        self._hook(model.flow_net.update, "update_iterations")
        self._hook(model.flow_net.update.mask_head, "upsampling")
        self._hook(model.features, "feature_pyramid")
        self._hook(model.synthesis, "gridnet")
        self._wrap(corr.CorrelationPyramid, "__init__", "correlation_build")
        self._wrap(corr.CorrelationPyramid, "__call__", "correlation_lookup")
        self._wrap(corr.OnDemandCorrelation, "__init__", "correlation_build")
        self._wrap(corr.OnDemandCorrelation, "__call__", "correlation_lookup")
        self._wrap(flownet, "convex_upsample", "upsampling")
        self._wrap(flownet.FlowNet, "_to_full_size", "upsampling")
        self._wrap(interpolator, "splat_average_pair", "splat")
        try:
            yield self
        finally:
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    ``VmHWM`` from /proc (per address space, so a child's figure does not include the parent's,
    unlike ``ru_maxrss``, which Linux carries over ``execve``); ``ru_maxrss`` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _peak_memory_child(variant: str, height: int, width: int, threads: int, device: str, dtype: str) -> dict:
    """Peak memory of a fresh process that builds the model and runs one x4 pass."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (
        f"import json,sys,torch;sys.path.insert(0,{here!r});import bench_model as b;"
        f"torch.set_num_threads({threads:d});m=b._model({variant!r},{device!r},{dtype!r});base=b.peak_rss_mb();"
        f"b._run(m,b._inputs({height:d},{width:d},{device!r}),b.X4_TIMES,{device!r});"
        f"cuda={device!r}.startswith('cuda');"
        "print(json.dumps({'after_build_mb':round(base),'peak_rss_mb':round(b.peak_rss_mb()),"
        "'peak_cuda_allocated_mb':round(torch.cuda.max_memory_allocated()/2**20) if cuda else None}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_variant(variant: str, args: argparse.Namespace) -> dict:
    large = args.height * args.width > LARGE_PIXELS
    repeats = args.repeats if args.repeats is not None else (1 if large else 3)
    model = _model(variant, args.device, args.dtype)
    inputs = _inputs(args.height, args.width, args.device)
    if not large:
        _run(model, inputs, (0.5,), args.device)  # warm-up (oneDNN / cuDNN primitive creation)
    single = [_run(model, inputs, (0.5,), args.device) for _ in range(repeats)]
    x4 = [_run(model, inputs, X4_TIMES, args.device) for _ in range(repeats)]
    result = {
        "single_s": round(statistics.median(single), 3),
        "single_min_s": round(min(single), 3),
        "single_runs_s": [round(s, 3) for s in single],
        "x4_s": round(statistics.median(x4), 3),
        "x4_min_s": round(min(x4), 3),
        "x4_runs_s": [round(s, 3) for s in x4],
    }
    if args.device == "cpu":
        timer = StageTimer()
        with timer.attached(model):
            staged_total = _run(model, inputs, (0.5,), args.device)
        stages = {k: round(v, 3) for k, v in sorted(timer.seconds.items())}
        stages["other"] = round(staged_total - sum(timer.seconds.values()), 3)
        result["stages_s"] = stages
    if (args.device, args.height, args.width) == ("cpu", 540, 960):
        original = ORIGINAL_SECONDS[variant]
        result["original_single_s"] = original
        result["speedup_single"] = round(original / statistics.median(single), 2)
        result["speedup_x4_vs_3_original_runs"] = round(3 * original / statistics.median(x4), 2)
        result["original_peak_gb"] = ORIGINAL_PEAK_GB
    if not args.no_memory:
        del model
        result.update(_peak_memory_child(variant, args.height, args.width, args.threads, args.device,
                                          args.dtype))
    return result


def _table_row(variant: str, args: argparse.Namespace, r: dict) -> dict:
    row = {"variant": variant, "size": f"{args.width}x{args.height}", "device": args.device,
           "dtype": args.dtype, "single_s": r["single_s"], "x4_s": r["x4_s"]}
    for key in ("speedup_single", "speedup_x4_vs_3_original_runs", "peak_rss_mb", "peak_cuda_allocated_mb"):
        if r.get(key) is not None:
            row[key] = r[key]
    for stage, seconds in r.get("stages_s", {}).items():
        row[f"{stage}_s"] = seconds
    return row


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    _QUIET.update(threshold=args.quiet_below, max_wait_s=args.max_wait)
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
        torch.backends.cudnn.allow_tf32 = False
    elif args.dtype == "fp16":
        raise SystemExit("--dtype fp16 is autocast on CUDA only (bf16 runs on the CPU too)")
    import cv2

    variants = ["afi", "animeinterp"] if args.variant == "both" else [args.variant]
    out = {
        "bench": "model",
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(0),
        "dtype": args.dtype,
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "size_hw": [args.height, args.width],
        "load_average_before": _load(),
        "cpu_pressure_before_pct": cpu_pressure(),
        "variants": {},
    }
    for variant in variants:
        out["variants"][variant] = bench_variant(variant, args)
    out["load_average_after"] = _load()
    out["cpu_pressure_after_pct"] = cpu_pressure()
    out["table"] = [_table_row(v, args, r) for v, r in out["variants"].items()]
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=("afi", "animeinterp", "both"), default="both")
    p.add_argument("--height", type=int, default=540)
    p.add_argument("--width", type=int, default=960)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="bf16: autocast on CUDA or CPU; fp16: on CUDA")
    p.add_argument("--repeats", type=int, default=None, help="timed runs (default 3, 1 above 1 MP)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", action="store_true", help="skip the child-process peak-memory run")
    p.add_argument("--quiet-below", type=float, default=None, metavar="PCT",
                   help="on a shared machine: before each timed run wait until CPU pressure (PSI avg10) "
                        "is below PCT %%")
    p.add_argument("--max-wait", type=float, default=300.0, help="longest wait for --quiet-below, seconds")
    return p


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
