"""Bench scripts that have something to get right besides timing: bench_memory's random pair state
(its ``synthesis`` path), the prepared GPU run (bench/gpu_check.sh, on a CPU here),
bench_classical_flows' in-between formula, bench_dev_ceiling's oracles, the dev-set summary of
bench/common.py and bench_clip_encoding's two ways of walking a clip.

No timing is checked (timings live in the benches).
"""
from __future__ import annotations

import sys
from argparse import Namespace

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.model import build_model

from tests.support.bench_scripts import BENCH, load_bench


def _layout(x: torch.Tensor) -> tuple:
    return tuple(x.shape), x.dtype, x.is_contiguous(memory_format=torch.channels_last)


def test_random_pair_state_has_the_shapes_and_formats_of_an_estimate():
    bench = load_bench("bench_memory")
    h, w = 130, 150  # not multiples of 4: padded like the model pads
    model = build_model("afi").eval()
    g = torch.Generator().manual_seed(0)
    real = model.estimate(torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g))
    fake = bench._random_pair_state(h, w, "cpu")
    for name in ("flow12", "flow21", "frame1", "frame2"):
        assert _layout(getattr(fake, name)) == _layout(getattr(real, name)), name
    for ours, theirs in zip(fake.features1 + fake.features2, real.features1 + real.features2, strict=True):
        assert _layout(ours) == _layout(theirs)
    assert fake.padding == real.padding
    assert model.synthesize(fake, 0.5).shape == (1, 3, h, w)


@pytest.mark.parametrize("allocator", ["system", "reuse"])
def test_synthesis_child_reports_seconds(allocator):
    from comfyui_animeinterp.core.allocator import is_reusing

    bench = load_bench("bench_memory")
    args = Namespace(child="synthesis", sizes="136x132", threads=1, device="cpu", dtype="fp32",
                     memory_budget=None, correlation=None, attention=None, iterations=None, allocator=allocator)
    result = bench._child(args)
    assert result["seconds"] >= 0 and result["peak_cuda_mb"] is None
    assert not is_reusing()  # the child's block is closed
    with pytest.raises(SystemExit, match="--allocator"):
        bench._child(Namespace(**{**vars(args), "allocator": "jemalloc"}))


def test_gpu_check_script_runs_its_steps_on_a_cpu(tmp_path):
    """bench/gpu_check.sh, the prepared device run, with DEVICE=cpu at a tiny size: every step
    writes its JSON and the script exits 0 (a broken step would make it exit 1)."""
    import json
    import os
    import subprocess

    env = dict(os.environ, OUT=str(tmp_path), DEVICE="cpu", SIZES="136x132", PYTHON=sys.executable)
    done = subprocess.run(["bash", str(BENCH / "gpu_check.sh")], env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    memory = json.loads((tmp_path / "memory_cpu.json").read_text())
    assert memory["table"][0]["returncode"] == 0 and memory["table"][0]["size"] == "136x132"
    exact = json.loads((tmp_path / "memory_cpu_exact.json").read_text())
    assert exact["flow_scale"] == "1" and exact["table"][0]["returncode"] == 0
    model = json.loads((tmp_path / "model_cpu_fp32.json").read_text())
    assert model  # bench_model's report



def test_classical_flows_bench_makes_the_dis_baselines_in_between_and_skips_without_data(tmp_path):
    from comfyui_animeinterp.core.data.synthetic import make_triplet
    from comfyui_animeinterp.core.evaluate.methods import dis_warp

    bench = load_bench("bench_classical_flows")
    tri = make_triplet(96, 128, seed=2)
    medium = bench.dis()
    ours = bench.warp_blend(tri.frame1, tri.frame3, medium(tri.frame1, tri.frame3), medium(tri.frame3, tri.frame1), 0.5)
    assert np.array_equal(ours, dis_warp(tri.frame1, tri.frame3, 0.5))  # the same formula as the baseline
    args = bench.build_parser().parse_args(["--data", str(tmp_path)])
    assert "skipped" in bench.run(args)


def _stripes(width: int, shift: float) -> np.ndarray:
    """A smooth horizontal pattern moved right by ``shift`` px, ``uint8 (48, width, 3)``."""
    x = np.arange(width, dtype=np.float32) - shift
    row = 127.5 + 100 * np.sin(x / 5.0) * np.cos(x / 13.0)
    return np.repeat(np.repeat(row[None, :, None], 48, axis=0), 3, axis=2).round().astype(np.uint8)


def test_dev_ceiling_oracles_recover_a_known_motion_and_the_best_time(tmp_path):
    bench = load_bench("bench_dev_ceiling")
    frame1, frame2, frame3 = (_stripes(160, s) for s in (0.0, 6.0, 12.0))
    motion = np.zeros((2, 48, 160), np.float32)
    motion[0] = 12.0  # frame 1 -> frame 3, constant
    inner = (slice(None), slice(20, 140))
    linear = bench.linear_motion_in_between(frame1, frame3, motion, 0.5)
    assert np.abs(linear[inner].astype(int) - frame2[inner]).max() <= 2
    crossfade_error = np.abs((frame1[inner].astype(int) + frame3[inner]) / 2 - frame2[inner]).mean()
    assert crossfade_error > 10  # the pattern moves enough for a wrong motion to show
    flow_21, flow_23 = np.zeros_like(motion), np.zeros_like(motion)
    flow_21[0], flow_23[0] = -6.0, 6.0
    two_sided = bench.two_sided_in_between(frame1, frame3, flow_21, flow_23, 0.5)
    assert np.abs(two_sided[inner].astype(int) - frame2[inner]).max() <= 2

    seen = []
    best, t_best = bench.timing_oracle(lambda t: seen.append(t) or np.full((2, 2, 3), t), lambda im: -abs(im[0, 0, 0] - 0.6))
    assert t_best == 0.6 and best[0, 0, 0] == 0.6 and set(bench.ORACLE_TIMES) <= set(seen)
    assert "skipped" in bench.run(bench.build_parser().parse_args(["--data", str(tmp_path)]))


def test_dev_set_summary_counts_triplets_against_the_cross_fade_and_dis():
    common = load_bench("common")
    dis = {"psnr": [20.0, 30.0, 25.0], "ssim": [0.8, 0.9, 0.85], "lpips": [0.2, 0.1, 0.15]}
    cross_fade = {"psnr": [19.0, 26.0, 25.2], "ssim": [0.7, 0.8, 0.8], "lpips": [0.3, 0.2, 0.10]}
    ours = {"psnr": [21.0, 29.0, 24.6], "ssim": [0.8, 0.9, 0.9], "lpips": [0.1, 0.2, 0.12]}
    row = common.against_baselines(ours, dis, cross_fade)
    assert row["psnr"] == 24.87 and row["vs_dis_db"] == -0.13 and row["won_vs_dis"] == 0.33
    assert row["worst_vs_crossfade_db"] == -0.6 and row["below_crossfade_minus_0.5db"] == 1
    assert row["lpips_above_crossfade"] == 1  # 0.12 > 0.10; 0.2 is not above 0.2
    no_lpips = common.against_baselines({**ours, "lpips": []}, dis, {**cross_fade, "lpips": []})
    assert no_lpips["lpips"] == "unavailable" and no_lpips["lpips_above_crossfade"] == "unavailable"


def test_clip_encoding_bench_reuses_encodings_in_one_way_and_not_the_other():
    bench = load_bench("bench_clip_encoding")
    threads = torch.get_num_threads()
    result = bench.run(Namespace(size="160x128", pairs=1, rounds=1, threads=threads))
    # the untimed first pair encodes frames 0 and 1; the timed pair reuses frame 1's encoding, or not
    assert result["encoding_memo_last_walk"] == {"reused": {"misses": 3, "hits": 1},
                                                 "fresh": {"misses": 2, "hits": 0}}
    assert result["pairs_timed_per_way"] == 1 and set(result["median_s_per_pair"]) == {"reused", "fresh"}


def test_the_memory_bench_names_the_machine_and_the_hour(monkeypatch):
    bench = load_bench("bench_memory")
    monkeypatch.setattr(bench, "measure", lambda *a, **k: {"peak_rss_mb": 10.0, "wall_s": 1.0, "returncode": 0,
                                                          "stdout": '{"seconds": 0.5, "peak_cuda_mb": null}'})
    args = bench.build_parser().parse_args(["--sizes", "64x64", "--paths", "learned"])
    report = bench.run(args)
    assert report["machine"]["cores"] >= 1 and report["machine"]["torch"] == torch.__version__
    assert report["date"] and "load_average" in report["load_before"] and "load_average" in report["load_after"]
    assert report["table"][0]["peak_rss_mb"] == 10.0
