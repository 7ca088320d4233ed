"""Where the learned model's time goes: a torch profiler run of x4 (estimate + 3 synthesize).

Each part of the model gets a profiler range (forward hooks on its modules, wrappers around the
correlation, upsampling and splatting functions); every operator's self CPU time is given to the
innermost range it ran in. Prints, and writes to ``bench/results/profile_model.json`` (``--out``):

* ``stages``: seconds per range (self time of the operators inside it, nested ranges apart);
* ``top_ops``: the operators that took most time, with the range they ran in (e.g. ``aten::bmm`` in
  the GMA aggregation);
* ``arithmetic``: the floating-point operations of the estimate and of the whole x4 (convolutions
  and matrix products, counted by ``torch.utils.flop_counter`` in a separate unprofiled run with the
  same ranges; elementwise work is not counted), per operator and per range; this CPU's fp32
  matrix-product rate (one 4096x4096 GEMM, best of 5) and the seconds the x4's products would take
  at that rate: how far the run is from being bound by arithmetic alone; and per range the rate its
  products ran at in the profiled run (``products_by_stage``: GFLOP over the self seconds of its
  convolution and matrix-product operators).

Random weights (``bench_model._model``), random frames and init flow (``bench_model._inputs``);
profiling slows a run down by some percent, so compare shares, not seconds, with other benches.

Usage: ``python bench/profile_model.py [--size 960x540] [--threads 2] [--top 25] [--dtype fp32|bf16]``
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import torch

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import bench_model
from common import gemm_rate_gflops, load_snapshot, machine_info, write_result

X4_TIMES = (0.25, 0.5, 0.75)
PREFIX = "stage:"
MODULE_STAGES = {  # attribute path in the model -> range name
    "flow_net.encoder": "flow.encoder",
    "flow_net.attention": "flow.gma_attention",
    "flow_net.update.motion": "flow.update.motion_encoder",
    "flow_net.update.aggregator": "flow.update.gma_aggregation",
    "flow_net.update.gru": "flow.update.gru",
    "flow_net.update.flow_head": "flow.update.flow_head",
    "flow_net.update.mask_head": "flow.update.mask_head",
    "flow_net.update": "flow.update.other",
    "features": "synth.feature_pyramid",
    "synthesis": "synth.gridnet",
}
FUNCTION_STAGES = [  # (module path, attribute, range name)
    ("comfyui_animeinterp.core.model.corr", "CorrelationPyramid.__init__", "flow.corr_build"),
    ("comfyui_animeinterp.core.model.corr", "CorrelationPyramid.__call__", "flow.corr_lookup"),
    ("comfyui_animeinterp.core.model.corr", "OnDemandCorrelation.__init__", "flow.corr_build"),
    ("comfyui_animeinterp.core.model.corr", "OnDemandCorrelation.__call__", "flow.corr_lookup"),
    ("comfyui_animeinterp.core.model.flownet", "convex_upsample", "flow.upsample"),
    ("comfyui_animeinterp.core.model.interpolator", "splat_average_pair", "synth.splat"),
]


def _resolve(root, path: str):
    for part in path.split("."):
        root = getattr(root, part, None)
        if root is None:
            return None
    return root


def _profiler_range(name: str):
    """A profiler range named ``PREFIX + name``."""
    return torch.profiler.record_function(PREFIX + name)


@contextmanager
def ranges(model, scope=_profiler_range):
    """Ranges around the model's parts (what exists in this version of the model): ``scope(name)``
    (a context manager; by default a profiler range) is entered and left around each."""
    import importlib

    undo = []
    for path, name in MODULE_STAGES.items():
        module = _resolve(model, path)
        if module is None:
            continue
        open_ranges = []

        def enter(*_, _name=name, _open=open_ranges):
            entered = scope(_name)
            entered.__enter__()
            _open.append(entered)

        def leave(*_, _open=open_ranges):
            _open.pop().__exit__(None, None, None)

        undo.append(module.register_forward_pre_hook(enter).remove)
        undo.append(module.register_forward_hook(leave).remove)
    for module_name, attr, name in FUNCTION_STAGES:
        owner = importlib.import_module(module_name)
        *outer, leaf = attr.split(".")
        for part in outer:
            owner = getattr(owner, part, None)
        if owner is None or leaf not in vars(owner):
            continue
        raw = vars(owner)[leaf]
        original = getattr(owner, leaf)

        def wrapped(*args, _f=original, _name=name, **kwargs):
            with scope(_name):
                return _f(*args, **kwargs)

        setattr(owner, leaf, staticmethod(wrapped) if isinstance(raw, staticmethod) else wrapped)
        undo.append(lambda owner=owner, leaf=leaf, raw=raw: setattr(owner, leaf, raw))
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


class StageFlops:
    """Floating-point operations per innermost range (nested ranges apart, like :func:`attribute`),
    read off a running ``FlopCounterMode``; operations outside every range go to ``"other"``."""

    def __init__(self, counter) -> None:
        self.counter = counter
        self.flops: dict[str, int] = defaultdict(int)
        self._nested: list[int] = []

    @contextmanager
    def scope(self, name: str):
        start = self.counter.get_total_flops()
        self._nested.append(0)
        try:
            yield
        finally:
            inside = self.counter.get_total_flops() - start
            self.flops[name] += inside - self._nested.pop()
            if self._nested:
                self._nested[-1] += inside

    def gflop(self) -> dict[str, float]:
        """GFLOP per range, ``"other"`` included when anything ran outside the ranges."""
        counted = dict(self.flops)
        other = self.counter.get_total_flops() - sum(counted.values())
        if other:
            counted["other"] = other
        return {name: round(n / 1e9, 2) for name, n in counted.items()}


def attribute(events) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Self CPU seconds per innermost range and per (range, operator) from profiler ``events``."""
    stages: dict[str, float] = defaultdict(float)
    ops: dict[tuple[str, str], float] = defaultdict(float)
    for event in events:
        if event.name.startswith(PREFIX):
            continue
        stage, parent = "other", event.cpu_parent
        while parent is not None:
            if parent.name.startswith(PREFIX):
                stage = parent.name[len(PREFIX):]
                break
            parent = parent.cpu_parent
        seconds = event.self_cpu_time_total / 1e6
        stages[stage] += seconds
        ops[(stage, event.name)] += seconds
    return dict(stages), dict(ops)


PRODUCT_OPS = frozenset({"aten::mkldnn_convolution", "aten::thnn_conv2d", "aten::_slow_conv2d_forward",
                         "aten::bmm", "aten::mm", "aten::addmm", "aten::baddbmm"})
"""Operators that do a stage's counted arithmetic (convolutions and matrix products) on the CPU."""


def arithmetic(model, inputs, gemm_side: int = 4096) -> dict:
    """GFLOP of the estimate and of the x4 (estimate + 3 synthesize), per range too, and the x4's
    products timed at this CPU's GEMM rate (a bound no schedule of these operations can beat)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    stages = StageFlops(counter)
    with torch.no_grad(), counter, ranges(model, stages.scope):
        with stages.scope("estimate"):
            state = model.estimate(*inputs)
        estimate = counter.get_total_flops()
        for t in X4_TIMES:
            with stages.scope("synthesize"):
                model.synthesize(state, t)
    total = counter.get_total_flops()
    by_op = {str(op): round(n / 1e9, 1) for op, n in counter.get_flop_counts()["Global"].items()}
    rate = gemm_rate_gflops(gemm_side)
    return {"estimate_gflop": round(estimate / 1e9, 1), "x4_gflop": round(total / 1e9, 1),
            "x4_gflop_by_op": by_op, "x4_gflop_by_stage": stages.gflop(), "gemm_rate_gflops": round(rate, 1),
            "x4_at_gemm_rate_s": round(total / 1e9 / rate, 2)}


def product_rates(stage_gflop: dict[str, float], ops: dict[tuple[str, str], float]) -> dict[str, dict]:
    """Per range with counted arithmetic: its GFLOP, the self seconds of its :data:`PRODUCT_OPS` and
    the rate they ran at (GFLOP/s), to hold against the machine's GEMM rate."""
    seconds: dict[str, float] = defaultdict(float)
    for (stage, op), s in ops.items():
        if op in PRODUCT_OPS:
            seconds[stage] += s
    return {stage: {"gflop": gflop, "product_s": round(seconds[stage], 3),
                    "product_gflops_per_s": round(gflop / seconds[stage], 1) if seconds[stage] else None}
            for stage, gflop in stage_gflop.items() if gflop > 0}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.lower().split("x"))
    model = bench_model._model("afi")
    model.autocast_dtype = None if args.dtype == "fp32" else torch.bfloat16
    inputs = bench_model._inputs(h, w)
    with torch.no_grad():
        bench_model._run(model, inputs, (0.5,))  # warm-up outside the profile
        with ranges(model), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            with torch.profiler.record_function(PREFIX + "estimate"):
                state = model.estimate(*inputs)
            for t in X4_TIMES:
                with torch.profiler.record_function(PREFIX + "synthesize"):
                    model.synthesize(state, t)
            wall = time.perf_counter() - start
    stages, ops = attribute(prof.events())
    total = sum(stages.values())
    counted = arithmetic(model, inputs) if args.dtype == "fp32" else None
    if counted is not None:
        counted["products_by_stage"] = product_rates(counted["x4_gflop_by_stage"], ops)
    out = {
        "bench": "profile_model", "size": args.size, "threads": args.threads, "dtype": args.dtype,
        "machine": machine_info(),
        "load": load_snapshot(), "x4_wall_s_profiled": round(wall, 3), "self_cpu_total_s": round(total, 3),
        "stages": [{"stage": k, "self_cpu_s": round(v, 3), "share_pct": round(100 * v / total, 1)}
                   for k, v in sorted(stages.items(), key=lambda kv: -kv[1])],
        "top_ops": [{"stage": s, "op": o, "self_cpu_s": round(v, 3), "share_pct": round(100 * v / total, 1)}
                    for (s, o), v in sorted(ops.items(), key=lambda kv: -kv[1])[:args.top]],
        "arithmetic": counted,
    }
    write_result(args.out, out)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="960x540", help="WxH")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=25, help="operators listed")
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32", help="bf16: bfloat16 autocast")
    p.add_argument("--out", default=str(BENCH_DIR / "results" / "profile_model.json"))
    return p


if __name__ == "__main__":
    result = run(build_parser().parse_args())
    print(f"x4 at {result['size']}: {result['x4_wall_s_profiled']} s wall (profiled), "
          f"{result['self_cpu_total_s']} s operator self time")
    for row in result["stages"]:
        print(f"  {row['stage']:<32} {row['self_cpu_s']:>8.2f} s  {row['share_pct']:>5.1f} %")
    print("top operators:")
    for row in result["top_ops"]:
        print(f"  {row['op']:<36} in {row['stage']:<30} {row['self_cpu_s']:>8.2f} s  {row['share_pct']:>5.1f} %")
    if result["arithmetic"]:
        a = result["arithmetic"]
        print(f"arithmetic: estimate {a['estimate_gflop']} GFLOP, x4 {a['x4_gflop']} GFLOP; fp32 GEMM rate "
              f"{a['gemm_rate_gflops']} GFLOP/s: the x4's products alone take {a['x4_at_gemm_rate_s']} s at it")
        for stage, row in sorted(a["products_by_stage"].items(), key=lambda kv: -kv[1]["gflop"]):
            rate = row["product_gflops_per_s"]
            print(f"  {stage:<32} {row['gflop']:>8.1f} GFLOP in {row['product_s']:>6.2f} s of products: "
                  + (f"{rate:.0f} GFLOP/s" if rate else "-"))
