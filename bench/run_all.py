"""``make bench``: run every ``bench/bench_*.py`` and write ``bench/results/<date>.json`` and ``.md``.

Convention for a bench module: it exposes ``build_parser() -> argparse.ArgumentParser`` (all options
with defaults) and ``run(args) -> dict`` (JSON-serialisable; timings are medians after a warm-up).
This runner calls each module with its defaults, and additionally:

* at every size of ``--sizes`` (default 540p and 1080p) if the parser has ``--height``/``--width``;
* on CUDA in fp32 and bf16 when CUDA is available, if the parser has ``--device`` (and ``--dtype``).

A result may hold ``"table"``: a list of flat dicts (one per stage/measurement); those rows make the
Markdown table. Everything else is kept in the JSON. A module that fails is reported, not fatal.

``bench_original.py`` (ours beside the original code, same run) runs only when a Soooda/AFI checkout is
given (``--original-afi DIR`` or ``ANIMEINTERP_ORIGINAL_AFI``; the SGM script also needs torchvision,
``--original-site DIR`` or ``ANIMEINTERP_ORIGINAL_SITE``); otherwise it reports
"skipped: original code not given".

Usage: ``python bench/run_all.py [--only NAME ...] [--sizes 960x540,1920x1080] [--no-cuda]
[--original-afi DIR] [--original-site DIR]``
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def discover(only: list[str] | None = None) -> dict[str, Path]:
    """``{name: path}`` of ``bench_<name>.py`` modules next to this file."""
    found = {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            raise SystemExit(f"unknown bench module(s) {unknown}; available: {sorted(found)}")
        found = {k: v for k, v in found.items() if k in only}
    return found


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def variants(parser: argparse.ArgumentParser, sizes: list[tuple[int, int]], cuda: bool) -> list[dict]:
    """Option overrides to run a module with (see the module docstring)."""
    dests = {a.dest for a in parser._actions}
    size_opts = [{"width": w, "height": h} for w, h in sizes] if {"height", "width"} <= dests else [{}]
    devices = [{}]
    if "device" in dests:
        devices = [{"device": "cpu"}]
        if cuda:
            dtypes = ["fp32", "bf16"] if "dtype" in dests else [None]
            devices += [{"device": "cuda", **({"dtype": d} if d else {})} for d in dtypes]
    return [{**s, **d} for s in size_opts for d in devices]


def _cells(row: dict) -> dict:
    return {k: v for k, v in row.items() if isinstance(v, (str, int, float, bool)) or v is None}


def markdown(report: dict) -> str:
    m = report["machine"]
    about = (f"Machine: {m['platform']}, {m['processor']}; Python {m['python']}; torch {m['torch']}; "
             f"OpenCV {m['opencv']}; CUDA: {m['cuda'] or 'no'}.")
    lines = [f"# Benchmarks {report['date']}", "", about, ""]
    for name, runs in report["results"].items():
        lines.append(f"## {name}")
        for run in runs:
            overrides = ", ".join(f"{k}={v}" for k, v in run["overrides"].items()) or "defaults"
            if "error" in run:
                lines += [f"- {overrides}: **failed**: {run['error'].splitlines()[-1]}", ""]
                continue
            rows = run["result"].get("table")
            lines.append(f"{overrides} ({run['seconds']:.0f} s)")
            lines.append("")
            if rows:
                cols = list(dict.fromkeys(k for r in rows for k in _cells(r)))
                lines.append("| " + " | ".join(cols) + " |")
                lines.append("|" + "---|" * len(cols))
                lines += ["| " + " | ".join(str(_cells(r).get(c, "")) for c in cols) + " |" for r in rows]
            else:
                scalars = {k: v for k, v in run["result"].items() if isinstance(v, (int, float))}
                lines += [f"- {k}: {v}" for k, v in scalars.items()] or ["(no table)"]
            lines.append("")
    return "\n".join(lines)


def machine() -> dict:
    import cv2
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__, "opencv": cv2.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="*", help="module names (bench_<name>.py) to run")
    p.add_argument("--sizes", default="960x540,1920x1080", help="comma-separated WxH for size-aware modules")
    p.add_argument("--no-cuda", action="store_true")
    p.add_argument("--out", default=str(RESULTS_DIR))
    p.add_argument("--original-afi", default=None, help="Soooda/AFI checkout for bench_original.py")
    p.add_argument("--original-site", default=None, help="import folder with the original's torchvision")
    args = p.parse_args(argv)
    for flag, env in ((args.original_afi, "ANIMEINTERP_ORIGINAL_AFI"),
                      (args.original_site, "ANIMEINTERP_ORIGINAL_SITE")):
        if flag:
            os.environ[env] = flag
    import torch

    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",") if s]
    cuda = torch.cuda.is_available() and not args.no_cuda
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(), "results": {}}
    for name, path in discover(args.only).items():
        runs = report["results"].setdefault(name, [])
        try:
            module = load(path)
            parser = module.build_parser()
        except Exception:  # noqa: BLE001 - a broken bench is reported, the others still run
            runs.append({"overrides": {}, "error": traceback.format_exc()})
            continue
        for overrides in variants(parser, sizes, cuda):
            ns = parser.parse_args([])
            for k, v in overrides.items():
                setattr(ns, k, v)
            print(f"[bench] {name} {overrides or ''}", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                result = module.run(ns)
                if isinstance(result, dict) and result.get("skipped"):
                    print(f"[bench] {name}: {result['skipped']}", file=sys.stderr, flush=True)
                runs.append({"overrides": overrides, "seconds": time.perf_counter() - start, "result": result})
            except Exception:  # noqa: BLE001 - a failed bench is reported, the others still run
                runs.append({"overrides": overrides, "seconds": time.perf_counter() - start,
                             "error": traceback.format_exc()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = datetime.datetime.now().strftime("%Y-%m-%d_%H%M%S")
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown(report), encoding="utf-8")
    print(f"wrote {out / stem}.json and .md")
    return 1 if any("error" in r for runs in report["results"].values() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
