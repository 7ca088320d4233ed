"""Inputs and timing helpers shared by the bench scripts (not a bench module itself)."""
from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

DEFAULT_REAL = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real_anime_dev" / "colour"
                / "realesrgan_onepiece" / "onepiece_f0082-0085-0088")
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
