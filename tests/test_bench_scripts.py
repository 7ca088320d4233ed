"""Bench scripts that have something to get right besides timing: bench_memory's random pair state
(its ``synthesis`` path), the prepared GPU run (bench/gpu_check.sh, on a CPU here), and
bench_classical_flows' in-between formula.

No timing is checked (timings live in the benches).
"""
from __future__ import annotations

import sys
from argparse import Namespace

import numpy as np
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


def test_synthesis_child_reports_seconds():
    bench = load_bench("bench_memory")
    args = Namespace(child="synthesis", sizes="136x132", threads=1, device="cpu", dtype="fp32",
                     memory_budget=None, correlation=None, attention=None, iterations=None)
    result = bench._child(args)
    assert result["seconds"] >= 0 and result["peak_cuda_mb"] is None


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
