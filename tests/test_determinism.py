"""Same input, same options: byte-identical results whatever the thread count and task order.

OpenCV's DIS object keeps state between calls, so a per-segment flow must not depend on which
segments the same object computed before (issue 15, item 1).
"""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from comfyui_animeinterp.core.sgm import coarse_flow as C
from comfyui_animeinterp.core.sgm.match import match_segments
from safetensors.torch import load_file


def _shuffled_map(seed: int, workers: int):
    """A ``map_threaded`` that runs the tasks in a shuffled order on ``workers`` threads and
    returns the results in the order of the items (what the real one promises)."""
    def run(fn, items, _workers=None):
        items = list(items)
        order = list(range(len(items)))
        random.Random(seed).shuffle(order)
        results = [None] * len(items)
        if workers == 1:
            for k in order:
                results[k] = fn(items[k])
        else:
            with ThreadPoolExecutor(workers) as pool:
                futures = {k: pool.submit(fn, items[k]) for k in order}
                for k, f in futures.items():
                    results[k] = f.result()
        return iter(results)
    return run


@pytest.fixture(scope="module")
def matched_pair(fixtures_dir):
    """The fixture's 432x240 pair with its SGM label maps, matched by colour (enough segments for
    a reused DIS object to show its history)."""
    d = load_file(str(fixtures_dir / "sgm_synth_432x240_vggrule_seed0.safetensors"))
    f1 = np.ascontiguousarray(d["img1_bgr"].numpy()[:, :, ::-1])
    f3 = np.ascontiguousarray(d["img3_bgr"].numpy()[:, :, ::-1])
    m = match_segments(f1, f3, d["labelMap1"].numpy(), d["labelMap3"].numpy(), features="colour")
    return f1, f3, m


@pytest.mark.parametrize("dis", ["original", "fast"])
def test_coarse_flow_does_not_depend_on_task_order_or_threads(matched_pair, monkeypatch, dis):
    f1, f3, m = matched_pair
    monkeypatch.setattr(C, "map_threaded", _shuffled_map(0, 1))
    reference = C.coarse_flow(f1, f3, m, dis=dis)
    assert reference.valid_13.any() and reference.valid_31.any()
    for seed, workers in [(1, 1), (2, 1), (3, 2), (4, 3)]:
        monkeypatch.setattr(C, "map_threaded", _shuffled_map(seed, workers))
        cf = C.coarse_flow(f1, f3, m, dis=dis)
        for name in ("flow_13", "flow_31", "valid_13", "valid_31"):
            np.testing.assert_array_equal(getattr(cf, name), getattr(reference, name),
                                          err_msg=f"{name}, order seed {seed}, {workers} threads")


def test_weight_free_in_betweens_are_byte_identical_on_1_or_n_threads(matched_pair, monkeypatch):
    """End to end (segmentation, matching, coarse flow, refinement, splatting): the same frames
    whatever the segment order and thread count."""
    from comfyui_animeinterp.core.pipeline import Interpolator

    f1, f3, _ = matched_pair
    runs = []
    for seed, workers in [(0, 1), (5, 3)]:
        monkeypatch.setattr(C, "map_threaded", _shuffled_map(seed, workers))
        runs.append(Interpolator().interpolate(f1, f3, (0.25, 0.5)))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_learned_in_betweens_are_byte_identical_on_1_or_n_threads(matched_pair, monkeypatch):
    """The learned path (original DIS settings, the network on 1 or 2 torch threads)."""
    import torch
    from comfyui_animeinterp.core.model import build_model
    from comfyui_animeinterp.core.pipeline import Interpolator
    from comfyui_animeinterp.core.sgm.run import SGMOptions

    f1, f3, _ = matched_pair
    torch.manual_seed(0)
    model = build_model("afi").eval()
    threads = torch.get_num_threads()
    runs = []
    try:
        for seed, workers, torch_threads in [(0, 1, 1), (5, 3, 2)]:
            monkeypatch.setattr(C, "map_threaded", _shuffled_map(seed, workers))
            torch.set_num_threads(torch_threads)
            runs.append(Interpolator(model, None, SGMOptions(features="colour")).interpolate(f1, f3, (0.5,)))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])


@pytest.mark.parametrize("correlation,attention", [("all-pairs", "full"), ("on-demand", "efficient")])
def test_learned_model_floats_do_not_depend_on_the_thread_count(correlation, attention):
    """Every flow and frame value, bit for bit, on 1, 2 or 3 torch threads (not only the 8-bit
    frames: a float that differs can round to another level on another picture). oneDNN's NCHW
    1x1 convolution rounds differently with the thread count; the encoder's runs channels_last."""
    import torch
    from comfyui_animeinterp.core.model import build_model

    torch.manual_seed(0)
    model = build_model("afi").eval()
    model.set_memory_options(correlation, attention)
    g = torch.Generator().manual_seed(3)
    frames = [torch.rand(1, 3, 240, 432, generator=g) for _ in range(2)]
    inits = [5 * torch.randn(1, 2, 240, 432, generator=g) for _ in range(2)]
    threads = torch.get_num_threads()
    outputs = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            with torch.no_grad():
                outputs.append(model(*frames, *inits, 0.5)[:3])
    finally:
        torch.set_num_threads(threads)
    for n, run in zip((2, 3), outputs[1:]):
        for name, a, b in zip(("frame", "flow12", "flow21"), outputs[0], run):
            assert torch.equal(a, b), f"{name}: 1 and {n} threads differ by {(a - b).abs().max().item():.3g}"
