"""Ours beside the ORIGINAL code (Soooda/AFI), run on the same machine in the same run, as ratios.

Needs a checkout of the original AFI code, given by ``--afi DIR`` or ``ANIMEINTERP_ORIGINAL_AFI``;
without one the bench reports ``skipped: original code not given`` and measures nothing. The
original code is only run, from its own checkout (never copied into this repository), in child
processes with small runtime shims (:func:`shim_original`): ``.cuda()`` is the identity, NumPy's
removed ``np.int``/``np.float`` aliases are restored, and, for the SGM script, torchvision's
operator meta registrations are skipped (torchvision's wheel carries CUDA ops that CPU torch does
not define) and ``torch_scatter`` is replaced by ``Tensor.scatter_add_`` when it is not installed.
The SGM script needs torchvision; install it apart, e.g.
``pip install --no-deps --target DIR torchvision==0.28.0``, and give ``DIR`` as ``--original-site``
or ``ANIMEINTERP_ORIGINAL_SITE``.

Every measurement is a fresh child process (peak RSS = its ``VmHWM``, ``bench_memory.measure``),
CPU, ``--threads`` torch threads, at 960x540:

* ``model``: the original ``AnimeInterp`` (RFR+GMA, 12 iterations, both flow directions) runs three
  full forwards (t = 0.25, 0.5, 0.75): its one in-between is the median of the three, its x4 their
  sum. Ours (``LearnedInterpolator``, default memory options) runs ``--repeats`` rounds of x4
  (estimate + 3 synthesize) and one in-between (estimate + synthesize(0.5)); medians of each.
  ``--rounds N`` repeats the pair of processes (original, then ours) N times, alternating, and
  reports each side's medians over the rounds beside every round's own ratios (:func:`combine_rounds`).
  Both load the same weights, made by the fidelity fixtures' rule (``tests/support/weight_rule.py``,
  seed ``--seed``; GMA's gamma is then about 0.5, so GMA is live), and get the same random frames
  and init flows; the largest difference of their t = 0.5 frames and flows is reported too.
  ``--ours-dtypes fp32,bf16`` also runs ours under bfloat16 autocast (opt-in, not faithful to the
  last bits: its differences from the original are reported the same way).
* ``sgm``: the original ``models/SGM/gen_sgm.py`` script on one real pair (frames 1 and 3 of
  ``--real``, resized to 960x540 by the script) and ours (``run_sgm``, same frames, same
  ``working_size``), both with the same VGG-19 (the rule's ``keys_vgg19.txt`` weights, built before
  the clock starts) and the same line preset (``--preset``; the original picks it from the folder
  name). The original's time covers its whole script (reading, SGM, writing its flows and pictures).

Writes ``bench/results/original_side_by_side.json`` (``--out``) with the machine (CPU model, cores,
torch, OpenCV, date, load average and CPU pressure before and after) and prints a table. On a
shared machine the seconds are loaded; the ratios inside one run are what compare.

``--allocator reuse`` runs every child, the original's too, with freed memory kept in the C heap
(``core.allocator``); both sides then stop paying page faults for fresh blocks. The original gains
more from it than ours (it allocates its correlation volume and GMA map anew in every run): on an
Intel Xeon, x4 took the original 116 s with glibc's defaults and 70 s with reuse, ours 13.3 s and
11.5 s. Compare ratios only between runs with the same setting.

Usage: ``python bench/bench_original.py --afi /path/to/AFI [--original-site DIR] [--parts model,sgm]``
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import io
import json
import os
import re
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from common import DEFAULT_REAL, gemm_rate_gflops, load_snapshot, machine_info, wait_until_quiet, write_result

ENV_AFI = "ANIMEINTERP_ORIGINAL_AFI"
ENV_SITE = "ANIMEINTERP_ORIGINAL_SITE"
SKIPPED = f"skipped: original code not given (set {ENV_AFI} or --afi to a Soooda/AFI checkout)"
DEFAULT_OUT = BENCH_DIR / "results" / "original_side_by_side.json"
FIXTURES = REPO / "tests" / "fixtures"
X4_TIMES = (0.25, 0.5, 0.75)
PARTS = ("model", "sgm")
CHILDREN = ("original-model", "ours-model", "original-sgm", "ours-sgm")
DTYPES = ("fp32", "bf16")
"""Precisions our model can run in (``bf16`` = bfloat16 autocast; the original always runs fp32)."""


# ----------------------------------------------------------------------------------------------
# pure helpers


def resolve_original(flag: str | None, environ: dict | None = None) -> Path | None:
    """The AFI checkout from ``--afi`` or, failing that, ``ANIMEINTERP_ORIGINAL_AFI``; None if neither."""
    environ = os.environ if environ is None else environ
    value = flag or environ.get(ENV_AFI) or None
    return Path(value).expanduser() if value else None


def check_original(path: Path) -> None:
    """Raise ``ValueError`` with a clear message unless ``path`` looks like a Soooda/AFI checkout."""
    needed = ("models/AnimeInterp.py", "models/SGM/gen_sgm.py")
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise ValueError(f"{path} is not a Soooda/AFI checkout: missing {', '.join(missing)}")


def ratio(original: float | None, ours: float | None, digits: int = 2) -> float | None:
    """``original / ours`` (how many times less ours needs), rounded; None if either is missing."""
    if original is None or ours is None or ours <= 0:
        return None
    return round(original / ours, digits)


def skipped_result(reason: str = SKIPPED) -> dict:
    """What the bench returns when it cannot run the original (one table row says why)."""
    return {"bench": "original", "skipped": reason, "table": [{"status": reason}]}


def side_by_side_rows(measured: dict) -> list[dict]:
    """Table rows from ``{"model": {...}, "sgm": {...}}`` (parts that did not run are left out)."""
    rows = []
    model = measured.get("model")
    if model:
        o = model["original"]
        for name in (k for k in model if k.startswith("ours")):
            precision = f", ours {name[5:]} autocast" if name != "ours" else ""
            for what, key in (("model, one in-between", "single"), ("model, x4 (3 in-betweens)", "x4")):
                rows.append(_row(what + precision, model[name], o, f"{key}_s", f"{key}_cpu_s"))
    sgm = measured.get("sgm")
    if sgm:
        o, u = sgm["original"], sgm["ours"]
        rows.append(_row("SGM, one real pair", u, o, "seconds", "cpu_s"))
    return rows


def _row(what: str, ours: dict, original: dict, wall_key: str, cpu_key: str) -> dict:
    """One comparison: wall seconds, CPU seconds (all threads) and peak RSS, each with original / ours."""
    row = {"what": what}
    for name, key in (("s", wall_key), ("cpu_s", cpu_key), ("peak_rss_mb", "peak_rss_mb")):
        a, b = ours.get(key), original.get(key)
        row.update({f"ours_{name}": a, f"original_{name}": b, f"ratio_{name}": ratio(b, a)})
    return row


def format_table(rows: list[dict]) -> str:
    """A plain-text table of ``rows`` (all keys, in first-seen order)."""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# child processes


def shim_original(site: str | None = None) -> None:
    """Runtime patches that let the unmodified original run on a CPU-only torch (this process only)."""
    import numpy as np
    import torch

    if site:
        sys.path.append(site)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the original calls .cuda() unconditionally
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    for name, value in (("int", int), ("float", float)):
        if name not in np.__dict__:
            setattr(np, name, value)  # aliases NumPy 1.24 removed, used by the SGM code
    # torchvision's wheel registers fake kernels for CUDA-built ops that CPU torch lacks
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    try:
        import torch_scatter  # noqa: F401
    except ImportError:
        sys.modules["torch_scatter"] = _scatter_shim()


def _scatter_shim() -> types.ModuleType:
    """``scatter_add`` / ``scatter_mean`` (torch_scatter's semantics for these calls) on ``scatter_add_``."""
    import torch

    def scatter_add(src, index, dim=-1, out=None, dim_size=None):
        dim = dim % src.dim()
        if index.dim() == 1 and src.dim() > 1:
            shape = [1] * src.dim()
            shape[dim] = -1
            index = index.view(shape)
        index = index.expand_as(src)
        size = list(src.shape)
        size[dim] = dim_size if dim_size is not None else int(index.max()) + 1
        return torch.zeros(size, dtype=src.dtype, device=src.device).scatter_add_(dim, index, src)

    def scatter_mean(src, index, dim=-1, out=None, dim_size=None):
        total = scatter_add(src, index, dim, dim_size=dim_size)
        dim = dim % src.dim()
        # counts from the index alone, as torch_scatter does (no src-sized temporary)
        count = scatter_add(torch.ones(index.shape, dtype=src.dtype, device=src.device), index,
                            index.dim() - 1 if index.dim() == 1 else dim, dim_size=total.shape[dim])
        if index.dim() == 1 and src.dim() > 1:
            shape = [1] * src.dim()
            shape[dim] = -1
            count = count.view(shape)
        return total / count.clamp(min=1)

    module = types.ModuleType("torch_scatter")
    module.scatter_add, module.scatter_mean = scatter_add, scatter_mean
    return module


def _inputs(height: int, width: int, seed: int = 0):
    """Random frames (1, 3, H, W) in [0, 1) and a random init flow (1, 2, H, W), ±4 px std."""
    import torch

    g = torch.Generator().manual_seed(seed)
    frame1 = torch.rand(1, 3, height, width, generator=g)
    frame2 = torch.rand(1, 3, height, width, generator=g)
    init = 4 * torch.randn(1, 2, height, width, generator=g)
    return frame1, frame2, init, -init


def _rule(keys_file: str, seed: int):
    sys.path.insert(0, str(REPO))
    from tests.support.weight_rule import rule_state_dict

    return rule_state_dict(FIXTURES / keys_file, seed=seed)


class Clock:
    """Wall and CPU seconds (this process, all threads) of timed blocks; waits for a quiet CPU first
    when ``quiet_below`` is set (see ``--quiet-below``)."""

    def __init__(self, quiet_below: float | None = None, max_wait_s: float = 300.0) -> None:
        self.quiet_below, self.max_wait_s = quiet_below, max_wait_s
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @contextlib.contextmanager
    def timed(self):
        wait_until_quiet(self.quiet_below, self.max_wait_s)
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.cpu.append(time.process_time() - cpu)
        self.wall.append(time.perf_counter() - wall)


def _rounded(values: list[float]) -> list[float]:
    return [round(v, 3) for v in values]


def _save(folder: str | None, name: str, **arrays) -> None:
    if folder:
        import numpy as np

        np.savez(Path(folder) / f"{name}.npz", **{k: v.detach().float().numpy() for k, v in arrays.items()})


def child_original_model(args: argparse.Namespace) -> dict:
    import torch

    shim_original(args.original_site)
    sys.path.insert(0, str(args.afi))
    from models.AnimeInterp import AnimeInterp

    model = AnimeInterp(path=None)
    model.load_state_dict(_rule("keys_afi.txt", args.seed), strict=True)
    model.eval()
    w, h = _size(args.size)
    inputs = _inputs(h, w)
    clock = _clock(args)
    with torch.no_grad():
        for t in X4_TIMES:
            with clock.timed():
                it, f12, *_ = model(*inputs, t)
            if t == 0.5:
                _save(args.save, "original", it=it, f12=f12)
    return {"runs_s": _rounded(clock.wall), "runs_cpu_s": _rounded(clock.cpu),
            "single_s": round(statistics.median(clock.wall), 3), "x4_s": round(sum(clock.wall), 3),
            "single_cpu_s": round(statistics.median(clock.cpu), 3), "x4_cpu_s": round(sum(clock.cpu), 3)}


def child_ours_model(args: argparse.Namespace) -> dict:
    import torch
    from comfyui_animeinterp.core.model import build_model
    from comfyui_animeinterp.core.weights.convert import convert_state_dict

    state_dict, _ = convert_state_dict(_rule("keys_afi.txt", args.seed), "afi")
    model = build_model("afi")
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    model.autocast_dtype = None if args.dtype == "fp32" else torch.bfloat16
    w, h = _size(args.size)
    inputs = _inputs(h, w)
    x4, single = _clock(args), _clock(args)
    with torch.no_grad():
        for round_ in range(args.repeats):  # x4 first (cold, like the original's first run), then alternate
            with x4.timed():
                state = model.estimate(*inputs)
                frames = {t: model.synthesize(state, t) for t in X4_TIMES}
            if round_ == 0:
                _save(args.save, _ours_name(args.dtype), it=frames[0.5], f12=state.flow12)
            del state, frames
            with single.timed():
                model.synthesize(model.estimate(*inputs), 0.5)
    return {"x4_runs_s": _rounded(x4.wall), "x4_runs_cpu_s": _rounded(x4.cpu),
            "single_runs_s": _rounded(single.wall), "single_runs_cpu_s": _rounded(single.cpu),
            **_medians("x4", x4), **_medians("single", single)}


def _ours_name(dtype: str) -> str:
    """Report key of our model run in ``dtype`` (``"ours"`` for fp32, else ``"ours_bf16"``)."""
    return "ours" if dtype == "fp32" else f"ours_{dtype}"


def _medians(name: str, clock: Clock) -> dict:
    return {f"{name}_s": round(statistics.median(clock.wall), 3),
            f"{name}_cpu_s": round(statistics.median(clock.cpu), 3)}


def _clock(args: argparse.Namespace) -> Clock:
    return Clock(args.quiet_below, args.max_wait)


def _pair_paths(real: Path) -> tuple[Path, Path]:
    files = sorted(p for p in Path(real).iterdir() if p.suffix.lower() in (".png", ".jpg"))
    if len(files) < 2:
        raise SystemExit(f"{real}: needs at least two frames")
    return files[0], files[-1]


def _rule_vgg_builder(seed: int):
    """A torchvision ``vgg19`` replacement returning one pre-built net with the rule's features."""
    import torch
    from torchvision import models

    net = models.vgg19(weights=None)
    net.features.load_state_dict({k.removeprefix("features."): v
                                  for k, v in _rule("keys_vgg19.txt", seed).items()}, strict=True)
    # the original keeps only ``.features`` of the net it builds: the classifier (about 0.5 GB) is
    # freed before SGM runs, so it must not stay alive here either
    net.classifier = torch.nn.Sequential()
    gc.collect()
    return lambda *args, **kwargs: net


def child_original_sgm(args: argparse.Namespace) -> dict:
    import runpy

    import torch

    shim_original(args.original_site)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(args.afi))
    import torchvision.models

    torchvision.models.vgg19 = _rule_vgg_builder(args.seed)  # built here, before the clock starts
    first, last = _pair_paths(args.real)
    with tempfile.TemporaryDirectory(prefix="bench_original_sgm_") as tmp:
        folder = Path(tmp) / "in" / ("Japan_pair" if args.preset == "japan" else "pair")
        folder.mkdir(parents=True)
        (folder / f"1{first.suffix}").symlink_to(first.resolve())
        (folder / f"3{last.suffix}").symlink_to(last.resolve())
        sys.argv = ["gen_sgm.py", str(folder.parent), str(Path(tmp) / "out")]
        printed = io.StringIO()
        clock = _clock(args)
        with clock.timed(), contextlib.redirect_stdout(printed):
            runpy.run_module("models.SGM.gen_sgm", run_name="__main__", alter_sys=True)
    log = printed.getvalue()
    labels = re.search(r"label num: (\d+), (\d+)", log)
    matches = re.search(r"match count: (\d+), (\d+)", log)
    return {"seconds": round(clock.wall[0], 3), "cpu_s": round(clock.cpu[0], 3),
            "segments": [int(v) for v in labels.groups()] if labels else None,
            "match_counts": [int(v) for v in matches.groups()] if matches else None}


def child_ours_sgm(args: argparse.Namespace) -> dict:
    import cv2
    import torch
    from comfyui_animeinterp.core.features.vgg19 import build_vgg19
    from comfyui_animeinterp.core.sgm.run import SGMOptions, run_sgm

    torch.set_num_threads(args.threads)
    vgg = build_vgg19(_rule("keys_vgg19.txt", args.seed))
    w, h = _size(args.size)
    options = SGMOptions(preset=args.preset, features="vgg", working_size=(w, h))
    first, last = _pair_paths(args.real)
    clock = _clock(args)
    with clock.timed():
        f1, f3 = (cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in (first, last))
        result = run_sgm(f1, f3, options, vgg)
    return {"seconds": round(clock.wall[0], 3), "cpu_s": round(clock.cpu[0], 3),
            "segments": [int(result.labels1.max()) + 1, int(result.labels3.max()) + 1],
            "stages_s": {k: round(v, 3) for k, v in result.timings.items()}}


CHILD_FUNCTIONS = {"original-model": child_original_model, "ours-model": child_ours_model,
                   "original-sgm": child_original_sgm, "ours-sgm": child_ours_sgm}


# ----------------------------------------------------------------------------------------------
# parent


def _size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def _spawn(child: str, args: argparse.Namespace, save: str) -> dict:
    from bench_memory import measure

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", child, "--afi", str(args.afi),
           "--size", args.size, "--threads", str(args.threads), "--seed", str(args.seed),
           "--repeats", str(args.repeats), "--real", str(args.real), "--preset", args.preset, "--save", save,
           "--max-wait", str(args.max_wait), "--dtype", args.dtype, "--allocator", args.allocator]
    if args.quiet_below is not None:
        cmd += ["--quiet-below", str(args.quiet_below)]
    if args.original_site:
        cmd += ["--original-site", args.original_site]
    print(f"[bench_original] {child} ...", file=sys.stderr, flush=True)
    measured = measure(cmd, args.timeout, capture_stdout=True)
    out = {"peak_rss_mb": measured["peak_rss_mb"], "process_wall_s": measured["wall_s"]}
    if measured["returncode"] != 0:
        out["error"] = measured.get("stderr_tail", "").strip().splitlines()[-3:]
    else:
        out.update(json.loads(measured["stdout"].strip().splitlines()[-1]))
    print(f"[bench_original] {child}: {json.dumps(out)}", file=sys.stderr, flush=True)
    return out


def _agreement(folder: str, ours: str = "ours") -> dict | None:
    import numpy as np

    paths = [Path(folder) / f"{n}.npz" for n in ("original", ours)]
    if not all(p.is_file() for p in paths):
        return None
    a, b = (np.load(p) for p in paths)
    return {"frame_t0.5_max_abs_diff": float(np.abs(a["it"] - b["it"]).max()),
            "flow12_max_abs_diff_px": float(np.abs(a["f12"] - b["f12"]).max())}


def run(args: argparse.Namespace) -> dict:
    args.afi = resolve_original(args.afi)
    if args.afi is None:
        print(SKIPPED, file=sys.stderr)
        return skipped_result()
    check_original(args.afi)
    args.original_site = args.original_site or os.environ.get(ENV_SITE) or None
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s) {unknown}; choose from {PARTS}")
    dtypes = _dtypes(args.ours_dtypes)  # refused before the original's minutes of running
    if args.rounds < 1:
        raise ValueError(f"--rounds must be at least 1, got {args.rounds}")
    report = {"bench": "original", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "machine": machine_info(), "threads": args.threads, "allocator": args.allocator,
              "size": args.size, "seed": args.seed,
              "original": str(args.afi), "original_commit": _commit(args.afi),
              "load_before": load_snapshot(), "gemm_rate_before_gflops": _gemm_rate(args.threads),
              "measured": {}}
    with tempfile.TemporaryDirectory(prefix="bench_original_") as save:
        if "sgm" in parts:
            report["measured"]["sgm"] = {"real_pair": [str(p) for p in _pair_paths(args.real)],
                                         "preset": args.preset,
                                         "original": _spawn("original-sgm", args, save),
                                         "ours": _spawn("ours-sgm", args, save)}
        if "model" in parts:
            report["measured"]["model"] = combine_rounds([_model_round(args, dtypes, save)
                                                          for _ in range(args.rounds)])
    report["load_after"] = load_snapshot()
    report["gemm_rate_after_gflops"] = _gemm_rate(args.threads)
    report["table"] = side_by_side_rows(report["measured"])
    out = write_result(args.out, report)
    print(format_table(report["table"]), file=sys.stderr)
    for number, round_ in enumerate(report["measured"].get("model", {}).get("rounds", []), 1):
        ratios = ", ".join(f"{k} {v}" for k, v in round_.items() if k.startswith("x4_ratio"))
        print(f"round {number}: {ratios}", file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)
    return report


def _model_round(args: argparse.Namespace, dtypes: list[str], save: str) -> dict:
    """One round of the model part: the original's three runs, then ours in each precision."""
    model = {"original": _spawn("original-model", args, save)}
    for dtype in dtypes:
        name = _ours_name(dtype)
        model[name] = _spawn("ours-model", argparse.Namespace(**{**vars(args), "dtype": dtype}), save)
        model["agreement" + name[4:]] = _agreement(save, name)
    return model


ROUND_KEYS = ("single_s", "x4_s", "single_cpu_s", "x4_cpu_s")
"""The figures of a side that :func:`combine_rounds` takes the median of over the rounds."""


def combine_rounds(rounds: list[dict]) -> dict:
    """The model part's rounds (``--rounds``) as one result: one round is returned as it is; of
    several, each side's figures are the medians over the rounds (peak RSS: the largest, the
    agreements: the worst), and ``rounds`` keeps every round with its own ratios
    (``x4_ratio_s``, ``x4_ratio_cpu_s`` per precision of ours).

    Alternating the original and ours in rounds puts both beside each other at every hour of a
    long run: the machine's speed drifts by a fifth within an hour, and a ratio from neighbouring
    processes is fairer than one from the original's minutes followed by ours.
    """
    if len(rounds) == 1:
        return rounds[0]
    combined: dict = {}
    for name in rounds[0]:
        sides = [r[name] for r in rounds]
        if name.startswith("agreement"):
            present = [s for s in sides if s]
            combined[name] = ({k: max(s[k] for s in present) for k in present[0]} if present else None)
            continue
        errors = [s["error"] for s in sides if "error" in s]
        if errors:
            combined[name] = {"error": errors[0], "peak_rss_mb": max(s["peak_rss_mb"] for s in sides)}
            continue
        combined[name] = {**{k: round(statistics.median(s[k] for s in sides), 3) for k in ROUND_KEYS},
                          "peak_rss_mb": max(s["peak_rss_mb"] for s in sides)}
    for r in rounds:
        for name in [k for k in r if k.startswith("ours") and "error" not in r[k] and "error" not in r["original"]]:
            for key in ("x4_s", "x4_cpu_s"):
                r[f"x4_ratio{name[4:]}_{key[3:]}"] = ratio(r["original"][key], r[name][key])
    combined["rounds"] = rounds
    return combined


def _gemm_rate(threads: int) -> float:
    """The machine's fp32 GEMM rate at the bench's thread count (how fast it computes during this
    run: ratios taken in a slow hour are lower, because our time is mostly arithmetic)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return round(gemm_rate_gflops(), 1)
    finally:
        torch.set_num_threads(before)


def _dtypes(text: str) -> list[str]:
    """The precisions our model runs in, from ``--ours-dtypes`` (``fp32``, ``bf16``)."""
    dtypes = [d for d in text.split(",") if d]
    unknown = sorted(set(dtypes) - set(DTYPES))
    if unknown or not dtypes:
        raise ValueError(f"--ours-dtypes: unknown or empty {unknown}; choose from {DTYPES}")
    return dtypes


def _commit(path: Path) -> str | None:
    """The checkout's git commit if it is a git work tree (read from .git, no git needed), else None."""
    head = Path(path) / ".git" / "HEAD"
    try:
        text = head.read_text().strip()
        if text.startswith("ref: "):
            return (Path(path) / ".git" / text[5:]).read_text().strip()
        return text
    except OSError:
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--afi", default=None, help=f"Soooda/AFI checkout (default: ${ENV_AFI})")
    p.add_argument("--original-site", default=None,
                   help=f"extra import folder for the original's torchvision (default: ${ENV_SITE})")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated: model, sgm")
    p.add_argument("--size", default="960x540", help="WxH of the model inputs and of SGM's working size")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="seed of the weight rule")
    p.add_argument("--repeats", type=int, default=2, help="our rounds of x4 + one in-between (>= 1)")
    p.add_argument("--rounds", type=int, default=1,
                   help="model part: run the original and ours this many times, alternating; each "
                        "side's figures are then the medians of the rounds (each round's ratios kept)")
    p.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of a real triplet (first, last)")
    p.add_argument("--preset", choices=("disney", "japan"), default="disney",
                   help="SGM line preset (the original's for a folder name without 'Japan': disney)")
    p.add_argument("--quiet-below", type=float, default=None, metavar="PCT",
                   help="on a shared machine: before each timed block wait until CPU pressure (PSI avg10) "
                        "is below PCT %%")
    p.add_argument("--max-wait", type=float, default=300.0, help="longest wait for --quiet-below, seconds")
    p.add_argument("--timeout", type=float, default=1800.0, help="per child process, seconds")
    p.add_argument("--allocator", choices=("system", "reuse"), default="system",
                   help="C allocator of every child, the original's too: system (glibc's defaults) or "
                        "reuse (freed memory kept for reuse, core.allocator)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--ours-dtypes", default="fp32",
                   help="comma-separated precisions of our model runs: fp32 (faithful), bf16 (autocast)")
    p.add_argument("--child", choices=CHILDREN, default=None, help=argparse.SUPPRESS)
    p.add_argument("--dtype", choices=DTYPES, default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--save", default=None, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        import torch
        from comfyui_animeinterp.core.allocator import reuse_freed_memory

        torch.set_num_threads(args.threads)
        args.afi = Path(args.afi) if args.afi else None
        with reuse_freed_memory(args.allocator == "reuse"):
            print(json.dumps(CHILD_FUNCTIONS[args.child](args)))
        return 0
    try:
        result = run(args)
    except ValueError as err:
        print(f"bench_original: {err}", file=sys.stderr)
        return 2
    return 0 if "skipped" in result or all("error" not in side for part in result["measured"].values()
                                           for side in part.values() if isinstance(side, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
