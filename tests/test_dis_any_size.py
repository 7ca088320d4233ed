"""OpenCV DIS through ``core.dis.dis_flow`` on frames of any size: OpenCV's own DIS raises below 12 px
a side and crashes the process on frames under 16 px high and 40+ px wide. The calls run in a child
process, so that a crash fails this test instead of ending the test run."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import cv2
import numpy as np
from comfyui_animeinterp.core.dis import MIN_DIS_SIDE, dis_flow

SIZES = [(8, 8), (9, 9), (11, 11), (8, 40), (12, 64), (14, 200), (10, 400), (1, 1), (3, 50), (40, 8)]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, check=False)


def test_dis_flow_survives_every_small_or_thin_frame():
    done = _run(f"""
        import cv2, numpy as np
        from comfyui_animeinterp.core.dis import dis_flow
        rng = np.random.default_rng(0)
        for h, w in {SIZES}:
            a = rng.integers(0, 256, (h, w), dtype=np.uint8)
            flow = dis_flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), a, np.roll(a, 1, 1),
                            np.zeros((h, w, 2), np.float32))
            assert flow.shape == (h, w, 2) and flow.dtype == np.float32 and np.isfinite(flow).all(), (h, w)
        print("ok")
    """)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_the_weight_free_pipeline_interpolates_small_and_thin_frames():
    done = _run("""
        import numpy as np
        from comfyui_animeinterp.core.pipeline import Interpolator
        rng = np.random.default_rng(0)
        interp = Interpolator()
        for h, w in [(8, 8), (9, 9), (11, 11), (8, 40), (12, 100), (10, 400)]:
            a, b = (rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2))
            (out,) = interp.interpolate(a, b, [0.5])
            assert out.shape == (h, w, 3), (h, w)
        print("ok")
    """)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-2000:]


def test_large_frames_go_to_dis_untouched():
    rng = np.random.default_rng(1)
    a = cv2.GaussianBlur(rng.integers(0, 256, (48, 64), dtype=np.uint8), (0, 0), 1.5)
    b = np.roll(a, 2, axis=1)
    ours = dis_flow(cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM), a, b)
    theirs = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(a, b, None)
    assert np.array_equal(ours, theirs) and min(a.shape) >= MIN_DIS_SIDE
