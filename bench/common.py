"""Inputs and timing helpers shared by the bench scripts (not a bench module itself)."""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import torch

_REAL_TRIPLET = Path("shared", "data", "real_anime_dev", "colour", "realesrgan_onepiece", "onepiece_f0082-0085-0088")


def _find_shared(relative: Path) -> Path:
    """``relative`` under the first ``shared/`` beside the repository or a folder above it (a git
    worktree may sit deeper than the main checkout); the nearest candidate when none exists."""
    repo = Path(__file__).resolve().parents[1]
    for folder in repo.parents:
        if (folder / relative).is_dir():
            return folder / relative
    return repo.parent / relative


DEFAULT_REAL = _find_shared(_REAL_TRIPLET)
"""A real pair of the project's development set (evaluation material, never committed)."""


def bench_pairs(height: int, width: int, real: Path | None = DEFAULT_REAL) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"synthetic": (f1, f3), "real": (f1, f3)}`` as ``uint8`` RGB at ``width x height``.

    The real pair is resized with ``cv2.resize`` (bilinear), as the original SGM script did; it is
    left out when its folder is missing.
    """
    from comfyui_animeinterp.core.data.synthetic import make_triplet

    tri = make_triplet(height, width, seed=0)
    pairs = {"synthetic": (tri.frame1, tri.frame3)}
    if real is not None:
        first, last = Path(real) / "frame1.png", Path(real) / "frame3.png"
        if first.is_file() and last.is_file():
            def load(path: Path) -> np.ndarray:
                bgr = cv2.resize(cv2.imread(str(path)), (width, height))
                return np.ascontiguousarray(bgr[:, :, ::-1])

            pairs["real"] = (load(first), load(last))
    return pairs


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model, cores, platform, Python, torch, OpenCV and NumPy versions, CUDA device if any."""
    import os

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def load_snapshot() -> dict:
    """How busy the machine is now: load averages (1, 5, 15 min) and CPU pressure (PSI avg10/avg60, %)."""
    import os

    out: dict = {"time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        out["load_average"] = None
    try:
        with open("/proc/pressure/cpu") as f:
            fields = dict(kv.split("=") for kv in f.readline().split()[1:])
        out["cpu_pressure_some_pct"] = {k: float(fields[k]) for k in ("avg10", "avg60", "avg300")}
    except (OSError, KeyError, ValueError):
        out["cpu_pressure_some_pct"] = None
    return out


def gemm_rate_gflops(side: int = 4096, repeats: int = 5) -> float:
    """This machine's fp32 matrix-product rate now: GFLOP/s of the best of ``repeats`` square GEMMs
    (at the current torch thread count). The development machine's varied from 222 to 314 within
    an hour (2026-12-04), which moved our model's time by about 20 % and the original's by 3 %."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(side, side, generator=g), torch.randn(side, side, generator=g)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * side ** 3 / best / 1e9


def wait_until_quiet(threshold_pct: float | None, max_wait_s: float = 300.0, poll_s: float = 2.0) -> float:
    """Wait until CPU pressure (PSI ``some avg10``) is below ``threshold_pct`` or ``max_wait_s`` passed.

    Returns the seconds waited (0 when ``threshold_pct`` is None or PSI is unavailable).
    """
    if threshold_pct is None:
        return 0.0
    start = time.monotonic()
    while time.monotonic() - start < max_wait_s:
        pressure = (load_snapshot()["cpu_pressure_some_pct"] or {}).get("avg10")
        if pressure is None or pressure < threshold_pct:
            break
        time.sleep(poll_s)
    return time.monotonic() - start


DEV_DATA = _find_shared(Path("shared", "data", "real_anime_dev"))
"""The real development set (evaluation material, never committed)."""


def dev_set_parser(description: str) -> argparse.ArgumentParser:
    """The options of the benches on the development set: ``--data``, ``--limit``, ``--threads``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, default=DEV_DATA, help="the real_anime_dev folder")
    p.add_argument("--limit", type=int, help="at most N triplets per set")
    p.add_argument("--threads", type=int, default=2)
    return p


def image_quality(pred, gt, lpips=None) -> tuple[float, float, float | None]:
    """PSNR, SSIM and LPIPS (None without a model) of ``pred`` against ``gt``, ``(1, 3, H, W)``
    tensors in [0, 1] (``core.io.images.to_tensor``)."""
    from comfyui_animeinterp.core.metrics import psnr, ssim

    if lpips is None:
        return float(psnr(pred, gt)[0]), float(ssim(pred, gt)[0]), None
    with torch.no_grad():
        return float(psnr(pred, gt)[0]), float(ssim(pred, gt)[0]), float(lpips(pred, gt)[0])


def main(run: Callable[[argparse.Namespace], dict], parser: argparse.ArgumentParser, result_name: str) -> None:
    """A bench script's entry point: ``run`` on the command line's options, the result written to
    ``bench/results/<result_name>`` unless it says "skipped", and printed."""
    result = run(parser.parse_args())
    if "skipped" not in result:
        write_result(result_name, result)
    print(json.dumps(result, indent=2))


def dev_triplets(folder: Path, size: tuple[int, int] | None, limit: int | None = None) -> Iterator:
    """The triplets of one set of the real development set (``core.data.triplets.open_dataset``),
    loaded and resized to ``size`` (W, H; None keeps them native), at most ``limit`` of them."""
    from comfyui_animeinterp.core.data.triplets import open_dataset

    for k, entry in enumerate(open_dataset(folder).entries()):
        if limit is not None and k >= limit:
            return
        yield entry.load().resized(size)


def against_baselines(scores: dict[str, list[float]], dis: dict[str, list[float]],
                      cross_fade: dict[str, list[float]]) -> dict:
    """One method's per-triplet ``{"psnr", "ssim", "lpips"}`` lists summarised against the DIS warp
    and the cross-fade of the same triplets (issue 14's measures): means, share of triplets won
    against DIS in PSNR, worst PSNR against the cross-fade, how many triplets fall more than
    0.5 dB below it and how many have a higher LPIPS than it ("unavailable" without LPIPS)."""
    p, d, c = (np.array(x["psnr"]) for x in (scores, dis, cross_fade))
    has_lpips = bool(scores["lpips"]) and bool(cross_fade["lpips"])
    return {
        "psnr": round(float(p.mean()), 2), "vs_dis_db": round(float((p - d).mean()), 2),
        "ssim": round(float(np.mean(scores["ssim"])), 4),
        "lpips": round(float(np.mean(scores["lpips"])), 4) if scores["lpips"] else "unavailable",
        "won_vs_dis": round(float(np.mean(p > d)), 2),
        "worst_vs_crossfade_db": round(float(np.min(p - c)), 2),
        "below_crossfade_minus_0.5db": int(np.sum(p < c - 0.5)),
        "lpips_above_crossfade": (int(np.sum(np.array(scores["lpips"]) > np.array(cross_fade["lpips"])))
                                  if has_lpips else "unavailable"),
    }


def lpips_model():
    """``(LPIPS model or None, one-line note)``: LPIPS v0.1 AlexNet when its weights resolve offline,
    else None and why (a bench reports it, it does not stop)."""
    from comfyui_animeinterp.core.metrics.lpips import resolve_lpips

    try:
        model, note = resolve_lpips(offline=True)
    except Exception as e:  # noqa: BLE001 - a bench reports why, it does not stop
        model, note = None, str(e)
    return model, note.splitlines()[0] if note else ""


RESULTS_DIR = Path(__file__).resolve().parent / "results"
"""Where the benches keep their output (``bench/results/``)."""


def write_result(path: str | Path, data: object) -> Path:
    """Write ``data`` as indented JSON to ``path`` (a bare file name goes to :data:`RESULTS_DIR`),
    creating the folder; returns the path written."""
    path = Path(path)
    if path.parent == Path("."):
        path = RESULTS_DIR / path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path
