"""Peak memory and wall time of the learned path and the weight-free path vs frame size.

Default (``--paths learned,weight-free --sizes 960x540,1920x1080,3840x2160``): for every size and
path, a fresh child process (``--child``) makes one in-between of a synthetic pair and reports its
seconds (work only, not imports or model building) and, on CUDA, the peak allocated memory; the
parent samples the child's peak resident set size.

* ``learned``: the AFI model with random weights (memory and speed do not depend on the values, see
  ``bench_model._model``), random frames and a random init flow: ``estimate`` + ``synthesize(0.5)``.
  ``--correlation``, ``--attention``, ``--memory-budget`` and ``--flow-scale`` are passed to the
  model (its default flow scale, auto, finds a 4K pair's flows at 1927x1083, ``core.model.flow_scale``).
* ``weight-free``: :class:`~comfyui_animeinterp.core.pipeline.Interpolator` without a model (SGM
  with colour features, DIS refinement, splat blending) on a synthetic cartoon pair.
* ``synthesis``: the learned model's ``synthesize(0.5)`` alone, from a random pair state of that
  size (flows and both feature pyramids): the synthesis peak at 4K in minutes, without the
  estimate (whose exact global attention takes about 25 minutes there on 2 CPU cores).

``--allocator reuse`` runs each child's work inside ``core.allocator.reuse_freed_memory`` (as
``ANIMEINTERP_ALLOCATOR=reuse`` makes the ``animeinterp`` command do); the default, ``system``, leaves
glibc's defaults (as inside ComfyUI); ``system,reuse`` measures both side by side in one run.

Peak RSS is ``VmHWM`` of the child and its descendants from ``/proc/<pid>/status``, sampled every
10 ms (the high-water mark only grows, so a sample taken shortly before exit holds the peak).
``ru_maxrss`` from ``os.wait4`` is not used on Linux: a spawned child inherits the parent's
high-water mark at ``exec``. Elsewhere it is the fallback.

``--command TEMPLATE`` instead measures a command line vs frame size and clip length on synthetic
cartoon clips (PNG folders or videos); ``{python}``, ``{input}``, ``{out}`` and ``{method}`` are
filled in, e.g.::

    python bench/bench_memory.py --command "animeinterp interpolate {input} {out}" --methods x

Usage: ``python bench/bench_memory.py [--sizes 960x540,1920x1080] [--paths learned]
[--correlation auto|all-pairs|on-demand] [--attention auto|full|efficient] [--memory-budget GB]
[--flow-scale auto|S]``
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_COMMAND = ("{python} -m comfyui_animeinterp.core.cli.evaluate --data {input} --method {method} "
                   "--no-baselines --no-lpips --quiet --size native --worst 0 --out {out}")


def _vm_hwm_kb(pid: int) -> int:
    """Peak RSS (kB) of ``pid`` plus its descendants, from /proc; 0 if unreadable."""
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
                    break
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                total += sum(_vm_hwm_kb(int(c)) for c in f.read().split())
    except (OSError, ValueError):
        pass
    return total


def measure(command: list[str], timeout: float | None = None, env: dict | None = None,
            capture_stdout: bool = False) -> dict:
    """Run ``command`` in a child process; return ``peak_rss_mb``, ``wall_s`` and ``returncode``.

    With ``capture_stdout`` (for children that print a short result) also ``stdout``.
    """
    use_proc = os.path.isdir("/proc/self")
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env)
    deadline = None if timeout is None else start + timeout
    peak_kb = 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if use_proc:
            peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
        if deadline is not None and time.perf_counter() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.01)
    wall = time.perf_counter() - start
    stdout = child.stdout.read().decode(errors="replace") if child.stdout else ""
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    for stream in (child.stdout, child.stderr):
        if stream:
            stream.close()
    if not use_proc:
        peak_kb = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # macOS reports bytes
    code = os.waitstatus_to_exitcode(status)
    out = {"peak_rss_mb": round(peak_kb / 1024, 1), "wall_s": round(wall, 3), "returncode": code}
    if capture_stdout:
        out["stdout"] = stdout[-2000:]
    if code != 0:
        out["stderr_tail"] = stderr[-600:]
    return out


def write_clip(folder: Path, width: int, height: int, frames: int, kind: str) -> Path:
    """A synthetic clip on twos with ``frames`` frames: a PNG folder or an ``.mp4``.

    It is made of 12-frame shots (6 drawings, a different scene each), so the motion per drawing
    and the triplets per frame do not depend on the length (4 triplets per shot).
    """
    from comfyui_animeinterp.core.data.synthetic import make_clip
    from comfyui_animeinterp.core.io.video import write_frames, write_video

    clip = [f for shot in range((frames + 11) // 12) for f in make_clip(6, height, width, seed=shot, hold=2)]
    clip = clip[:frames]
    if kind == "video":
        path = folder / f"clip_{width}x{height}_{frames}.mp4"
        write_video(path, clip, fps=24)
    else:
        path = folder / f"clip_{width}x{height}_{frames}"
        write_frames(path, clip)
    return path


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",") if s]  # type: ignore[misc]


PATHS = ("learned", "weight-free", "synthesis")
DEFAULT_SIZES = "960x540,1920x1080,3840x2160"


def allocators(text: str, single: bool = False) -> list[str]:
    """``--allocator``: ``system``, ``reuse`` or (not for a child, ``single``) ``system,reuse``."""
    chosen = text.split(",")
    if set(chosen) - {"system", "reuse"} or len(chosen) != len(set(chosen)) or (single and len(chosen) > 1):
        raise SystemExit(f"--allocator: expected system, reuse{'' if single else ' or system,reuse'}; got {text!r}")
    return chosen


def _child(args: argparse.Namespace) -> dict:
    """One in-between on ``args.child``'s path in this process (inside ``--allocator``'s setting,
    :func:`core.allocator.reuse_freed_memory`); ``{"seconds", "peak_cuda_mb"}``."""
    from comfyui_animeinterp.core.allocator import reuse_freed_memory

    (allocator,) = allocators(args.allocator, single=True)
    with reuse_freed_memory(allocator == "reuse"):
        return _child_in_process(args)


def _child_in_process(args: argparse.Namespace) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    w, h = _sizes(args.sizes)[0]
    device = args.device
    if args.child == "learned":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_model

        model = bench_model._model("afi", device, args.dtype)
        budget = None if args.memory_budget is None else args.memory_budget * 2**30
        options = {k: v for k, v in (("correlation", args.correlation), ("attention", args.attention),
                                     ("memory_budget", budget)) if v is not None}
        if options:
            model.set_memory_options(**options)
        if args.flow_scale is not None:
            from comfyui_animeinterp.core.model.flow_scale import check_flow_scale

            model.flow_scale = check_flow_scale(args.flow_scale)
        if args.iterations is not None:
            from comfyui_animeinterp.core.model.compat import CheckpointCompat

            model.flow_net.compat = CheckpointCompat(iterations=args.iterations)
        inputs = bench_model._inputs(h, w, device)
        bench_model._sync(device)
        start = time.perf_counter()
        state = model.estimate(*inputs)
        model.synthesize(state, 0.5)
        bench_model._sync(device)
    elif args.child == "synthesis":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import bench_model

        model = bench_model._model("afi", device, args.dtype)
        if args.memory_budget is not None:
            model.set_memory_options(memory_budget=args.memory_budget * 2**30)
        state = _random_pair_state(h, w, device)
        bench_model._sync(device)
        start = time.perf_counter()
        model.synthesize(state, 0.5)
        bench_model._sync(device)
    else:
        from comfyui_animeinterp.core.data.synthetic import make_triplet
        from comfyui_animeinterp.core.pipeline import Interpolator

        tri = make_triplet(h, w, seed=0)
        interp = Interpolator(None, device=device)
        start = time.perf_counter()
        interp.interpolate(tri.frame1, tri.frame3, [0.5])
    seconds = time.perf_counter() - start
    cuda = device.startswith("cuda")
    return {"seconds": round(seconds, 2),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None}


def _random_pair_state(h: int, w: int, device: str):
    """A ``PairState`` of an ``h x w`` pair with random frames, flows and feature pyramids (the
    shapes and memory formats ``LearnedInterpolator.estimate`` gives)."""
    import torch
    from comfyui_animeinterp.core.model.interpolator import SYNTHESIS_MULTIPLE, PairState
    from comfyui_animeinterp.core.model.padding import CentredPadding

    g = torch.Generator().manual_seed(0)
    padding = CentredPadding.to_valid_size(h, w, multiple=SYNTHESIS_MULTIPLE)
    frames = [padding.pad(torch.rand(1, 3, h, w, generator=g)) for _ in range(2)]
    ph, pw = frames[0].shape[-2:]

    def pyramid():
        return tuple(torch.randn(1, c, ph // s, pw // s, generator=g).contiguous(memory_format=torch.channels_last)
                     .to(device) for c, s in ((32, 1), (64, 2), (96, 4)))

    flow = 8 * torch.randn(1, 2, h, w, generator=g)
    return PairState(flow.to(device), -flow.to(device), None, None, frames[0].to(device), frames[1].to(device),
                     pyramid(), pyramid(), padding)


def _child_command(args: argparse.Namespace, path: str, w: int, h: int) -> list[str]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", path, "--sizes", f"{w}x{h}",
           "--threads", str(args.threads), "--device", args.device, "--dtype", args.dtype,
           "--allocator", args.allocator]
    for flag in ("correlation", "attention", "memory_budget", "flow_scale", "iterations"):
        value = getattr(args, flag)
        if value is not None:
            cmd += [f"--{flag.replace('_', '-')}", str(value)]
    return cmd


def _finish_row(row: dict, measured: dict) -> dict:
    """``row`` with the child's own report (seconds, CUDA peak) or its error; printed as it comes."""
    if measured["returncode"] == 0 and measured.get("stdout"):
        row.update(json.loads(measured["stdout"].strip().splitlines()[-1]))
    elif "stderr_tail" in measured:
        row["error"] = measured["stderr_tail"].strip().splitlines()[-1:]
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def run_paths(args: argparse.Namespace) -> dict:
    """Peak RSS / seconds / peak CUDA memory per (size, path), each in a fresh child process."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import load_snapshot, machine_info  # here: the children measured must not import OpenCV

    rows = []
    chosen = allocators(args.allocator)
    load_before = load_snapshot()
    for w, h in _sizes(args.sizes):
        for path in args.paths.split(","):
            if path not in PATHS:
                raise SystemExit(f"unknown path {path!r}; expected some of {PATHS}")
            for allocator in chosen:  # side by side in one run: the machine's drift cancels
                command = _child_command(argparse.Namespace(**{**vars(args), "allocator": allocator}), path, w, h)
                measured = measure(command, args.timeout, capture_stdout=True)
                row = {"path": path, "size": f"{w}x{h}", "peak_rss_mb": measured["peak_rss_mb"],
                       "process_wall_s": measured["wall_s"], "returncode": measured["returncode"]}
                if len(chosen) > 1:
                    row["allocator"] = allocator
                rows.append(_finish_row(row, measured))
    return {
        "bench": "memory",
        "what": "one in-between per child process; learned = AFI with random weights (estimate + synthesize)",
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "allocator": args.allocator,
        "correlation": args.correlation or "default",
        "attention": args.attention or "default",
        "memory_budget_gb": args.memory_budget,
        "flow_scale": args.flow_scale or "default (auto)",
        "iterations": args.iterations or "12 (the checkpoints')",
        "date": load_before["time"],
        "machine": machine_info(),
        "load_before": load_before,
        "load_after": load_snapshot(),
        "table": rows,
    }


def run_command(args: argparse.Namespace) -> dict:
    """The ``--command`` sweep: a command line vs frame size and clip length."""
    template = args.command
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_memory_") as tmp:
        root = Path(tmp)
        cases = [("resolution", w, h, args.frames) for w, h in _sizes(args.sizes)]
        base_w, base_h = _sizes(args.sizes)[0]
        cases += [("length", base_w, base_h, n) for n in (int(v) for v in args.lengths.split(",") if v)]
        for scenario, w, h, n in cases:
            clip = write_clip(root, w, h, n, args.input_kind)
            for method in args.methods.split(","):
                out = root / f"out_{scenario}_{w}x{h}_{n}_{method}"
                cmd = shlex.split(template.format(python=shlex.quote(sys.executable), input=shlex.quote(str(clip)),
                                                  out=shlex.quote(str(out)), method=method))
                rows.append({"scenario": scenario, "size": f"{w}x{h}", "frames": n, "method": method,
                             **measure(cmd, args.timeout)})
    return {"bench": "memory", "command": template, "input_kind": args.input_kind, "device": "cpu",
            "python": sys.version.split()[0], "table": rows}


def run(args: argparse.Namespace) -> dict:
    return run_command(args) if args.command else run_paths(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="comma-separated WxH (just some sizes: list them)")
    p.add_argument("--paths", default=",".join(PATHS), help="comma-separated: learned, weight-free")
    p.add_argument("--correlation", default=None, choices=("auto", "all-pairs", "on-demand"),
                   help="learned path: correlation mode (default: the model's)")
    p.add_argument("--attention", default=None, choices=("auto", "full", "efficient"),
                   help="learned path: GMA attention mode (default: the model's)")
    p.add_argument("--memory-budget", type=float, default=None, metavar="GB",
                   help="learned path: memory budget of the auto modes, GB (default: the model's)")
    p.add_argument("--flow-scale", default=None, metavar="auto|S",
                   help="learned path: the flow net's frame scale, auto or a number in (0, 1] (default: the model's)")
    p.add_argument("--iterations", type=int, default=None,
                   help="learned path: refinement iterations (memory probe on a slow machine: every "
                        "iteration holds the same memory, but the seconds are then not comparable)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16", "fp16"), help="learned path autocast")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--allocator", default="system",
                   help="system (glibc's defaults, as inside ComfyUI), reuse (the children keep freed memory "
                        "in the C heap, core.allocator, as ANIMEINTERP_ALLOCATOR=reuse makes the command do), "
                        "or system,reuse (both, side by side)")
    p.add_argument("--timeout", type=float, default=1800.0, help="per child process, seconds")
    p.add_argument("--child", default=None, choices=PATHS, help=argparse.SUPPRESS)
    cli = p.add_argument_group("--command sweep")
    cli.add_argument("--command", default=None, help=f"command template, e.g. {DEFAULT_COMMAND!r}")
    cli.add_argument("--frames", type=int, default=12, help="clip length of the resolution sweep")
    cli.add_argument("--lengths", default="12,48,192", help="clip lengths of the length sweep")
    cli.add_argument("--methods", default="dis,blend")
    cli.add_argument("--input-kind", choices=("png", "video"), default="png")
    return p


if __name__ == "__main__":
    parsed = build_parser().parse_args()
    print(json.dumps(_child(parsed) if parsed.child else run(parsed), indent=2 if not parsed.child else None))
