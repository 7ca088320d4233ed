"""Peak memory (and wall time) of a command-line run vs frame size and vs clip length.

Each measurement runs the command in a fresh child process and samples the peak resident set size
of the child and its descendants (``VmHWM`` in ``/proc/<pid>/status``, every 10 ms; the high-water
mark only grows, so a sample taken shortly before exit holds the peak). ``ru_maxrss`` from
``os.wait4`` is not used on Linux: a spawned child inherits the parent's high-water mark at ``exec``,
so it would report the benchmark process's own size. Elsewhere it is the fallback.
Inputs are synthetic cartoon clips (drawings held on twos) written as PNG folders or videos.

The command is a template; ``{python}``, ``{input}``, ``{out}`` and ``{method}`` are filled in.
The default measures the evaluation CLI on the clip (cut into triplets, one method), which is the
bounded-memory streaming path that ``animeinterp interpolate`` will share; point ``--command`` at
that command once it exists, e.g.::

    python bench/bench_memory.py --command "animeinterp interpolate --input {input} --out {out}"

Usage: ``python bench/bench_memory.py [--sizes 960x540,1920x1080] [--lengths 12,48,192] [--methods dis,blend]``
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


def measure(command: list[str], timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``command`` in a child process; return ``peak_rss_mb``, ``wall_s`` and ``returncode``."""
    use_proc = os.path.isdir("/proc/self")
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
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
    stderr = child.stderr.read().decode(errors="replace") if child.stderr else ""
    child.stderr.close()
    if not use_proc:
        peak_kb = usage.ru_maxrss / (1024 if sys.platform == "darwin" else 1)  # macOS reports bytes
    code = os.waitstatus_to_exitcode(status)
    out = {"peak_rss_mb": round(peak_kb / 1024, 1), "wall_s": round(wall, 3), "returncode": code}
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


def run(args: argparse.Namespace) -> dict:
    template = args.command or DEFAULT_COMMAND
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
    return {
        "bench": "memory",
        "command": template,
        "input_kind": args.input_kind,
        "device": "cpu",
        "python": sys.version.split()[0],
        "table": rows,
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="960x540,1920x1080", help="comma-separated WxH (first = size of the length sweep)")
    p.add_argument("--frames", type=int, default=12, help="clip length of the resolution sweep")
    p.add_argument("--lengths", default="12,48,192", help="clip lengths of the length sweep")
    p.add_argument("--methods", default="dis,blend")
    p.add_argument("--input-kind", choices=("png", "video"), default="png")
    p.add_argument("--command", default=None, help="command template (see the module docstring)")
    p.add_argument("--timeout", type=float, default=1800.0)
    return p


if __name__ == "__main__":
    print(json.dumps(run(build_parser().parse_args()), indent=2))
