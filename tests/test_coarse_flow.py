"""Coarse flow from matched segments: equal to the original's, and accurate on synthetic motion."""
from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.features.vgg19 import build_vgg19
from comfyui_animeinterp.core.pipeline import Interpolator
from comfyui_animeinterp.core.sgm import coarse_flow as C
from comfyui_animeinterp.core.sgm.match import match_segments
from comfyui_animeinterp.core.sgm.run import SGMOptions, run_sgm
from safetensors.torch import load_file

from tests.support.weight_rule import rule_state_dict


class FidelityFallbackWarning(UserWarning):
    """A fidelity comparison ran with a looser tolerance than the fixture allows."""


@pytest.fixture(scope="module")
def fixture_and_flow(fixtures_dir):
    d = load_file(str(fixtures_dir / "sgm_synth_432x240_vggrule_seed0.safetensors"))
    vgg = build_vgg19(rule_state_dict(fixtures_dir / "keys_vgg19.txt"))
    f1 = np.ascontiguousarray(d["img1_bgr"].numpy()[:, :, ::-1])
    f3 = np.ascontiguousarray(d["img3_bgr"].numpy()[:, :, ::-1])
    m = match_segments(f1, f3, d["labelMap1"].numpy(), d["labelMap3"].numpy(), vgg=vgg)
    return d, C.coarse_flow(f1, f3, m)


def test_published_thresholds_are_pinned():
    assert (C.MAX_SHIFT, C.MIN_PIXELS, C.MAX_AREA_FRACTION, C.MAX_SIZE_RATIO) == (250.0, 50, 0.12, 3.0)
    assert (C.MIN_OVERLAP, C.WARPED_MASK_FLOOR, C.DARK_MEAN) == (0.8, 0.05, 20)
    assert (C.PATCH_MIN, C.PATCH_BORDER) == (16, 10)
    dis = C.make_dis()
    assert dis.getVariationalRefinementIterations() == 25
    assert dis.getFinestScale() == 0 and dis.getGradientDescentIterations() == 50
    assert dis.getPatchSize() == 8 and dis.getPatchStride() == 3  # from PRESET_MEDIUM


def test_fast_settings_are_the_stock_medium_preset_and_unknown_ones_are_refused():
    fast = C.make_dis("fast")
    assert (fast.getFinestScale(), fast.getGradientDescentIterations(), fast.getVariationalRefinementIterations()) == (1, 25, 5)
    with pytest.raises(InputError, match="DIS settings"):
        C.make_dis("slow")
    with pytest.raises(InputError, match="DIS settings"):
        SGMOptions(coarse_flow_dis="slow")


def test_the_learned_path_keeps_the_original_flows_and_the_weight_free_one_goes_fast():
    assert Interpolator().sgm_options.coarse_flow_dis == "fast"
    model = torch.nn.Linear(1, 1)  # any module: the options only look at whether there is one
    assert Interpolator(model).sgm_options.coarse_flow_dis == "original"
    explicit = Interpolator(sgm=SGMOptions(coarse_flow_dis="original"))
    assert explicit.sgm_options.coarse_flow_dis == "original"
    assert SGMOptions().coarse_flow_dis is None  # run_sgm and the SGM nodes: the original's


def test_run_sgm_uses_the_original_settings_unless_told_otherwise(synthetic_triplet, monkeypatch):
    asked = []
    real = C.make_dis
    monkeypatch.setattr(C, "make_dis", lambda settings="original": asked.append(settings) or real(settings))
    t = synthetic_triplet
    run_sgm(t.frame1, t.frame3, SGMOptions(features="colour"))
    assert asked and set(asked) == {"original"}
    asked.clear()
    run_sgm(t.frame1, t.frame3, SGMOptions(features="colour", coarse_flow_dis="fast"))
    assert asked and set(asked) == {"fast"}


def test_flows_equal_the_original(fixture_and_flow):
    """Same OpenCV as the fixture: equal up to the fixture's float32 rounding. Another OpenCV:
    DIS differs (ARCHITECTURE.md §12), so only the zero/non-zero layout must agree and the DIS
    segments stay within 1 px of the closest stored version."""
    d, cf = fixture_and_flow
    version = cv2.__version__.split("+")[0]
    for ours, key in [(cf.flow_13, "1to3"), (cf.flow_31, "3to1")]:
        stored = {v: d[f"cv{v}.guideflow_{key}"].numpy() for v in ("5.0.0", "4.10.0")}
        if version in stored:
            np.testing.assert_allclose(ours, stored[version], atol=1e-6, rtol=0)
        else:
            warnings.warn(FidelityFallbackWarning(
                f"coarse flows {key}: OpenCV {version} has no stored fixture (5.0.0, 4.10.0); compared "
                "with a 1 px tolerance instead of 1e-6. `make test` pins 5.0.0 (constraints.txt)."))
            ref = stored["5.0.0"]
            moving = np.abs(ref).sum(0) > 0
            np.testing.assert_array_equal(np.abs(ours).sum(0) > 0, moving)
            err = min(np.abs(ours - s).max() for s in stored.values())
            assert err < 1.0


def test_valid_mask_marks_exactly_the_accepted_segments(fixture_and_flow):
    _d, cf = fixture_and_flow
    for flow, valid in [(cf.flow_13, cf.valid_13), (cf.flow_31, cf.valid_31)]:
        assert valid.any() and not valid.all()
        assert not np.abs(flow[:, ~valid]).any()  # zero outside: the original's output is kept


@pytest.mark.parametrize("dis", ["original", "fast"])
def test_synthetic_coarse_flow_is_accurate(synthetic_triplet, dis):
    """With the drawn shapes as segments, the flow of matched shapes is close to the truth.

    Bound: median end-point error < 1 px and 90th percentile < 3 px over valid pixels of moving
    shapes (outlines and occlusions make a few pixels hard)."""
    t = synthetic_triplet
    l1, l3 = t.owner1.astype(np.int32), t.owner3.astype(np.int32)
    m = match_segments(t.frame1, t.frame3, l1, l3, features="colour")
    cf = C.coarse_flow(t.frame1, t.frame3, m, dis=dis)
    for flow, valid, gt, owner in [(cf.flow_13, cf.valid_13, t.flow_13, t.owner1),
                                   (cf.flow_31, cf.valid_31, t.flow_31, t.owner3)]:
        moving = valid & (owner > 1)
        assert moving.sum() > 0.5 * (owner > 1).sum()
        epe = np.hypot(*(flow - gt))[moving]
        assert np.median(epe) < 1.0 and np.percentile(epe, 90) < 3.0


def test_resize_follows_the_loader_rule():
    flow = np.zeros((2, 4, 6))
    flow[0] = np.arange(6)[None]
    flow[1] = np.arange(4)[:, None]
    cf = C.CoarseFlow(flow, flow, np.ones((4, 6), bool), np.zeros((4, 6), bool))
    r = cf.resized(2, 3)
    # nearest (legacy) picks columns 0, 2, 4 and rows 0, 2; x scaled by 3/6, y by 2/4
    np.testing.assert_array_equal(r.flow_13[0], np.array([[0, 1, 2], [0, 1, 2]]))
    np.testing.assert_array_equal(r.flow_13[1], np.array([[0, 0, 0], [1, 1, 1]]))
    assert r.valid_13.all() and not r.valid_31.any()


def test_mismatched_inputs_are_refused(fixture_and_flow, synthetic_triplet):
    t = synthetic_triplet
    l1 = t.owner1.astype(np.int32)
    m = match_segments(t.frame1, t.frame3, l1, t.owner3.astype(np.int32), features="colour")
    with pytest.raises(InputError):
        C.coarse_flow(t.frame1[:100], t.frame3[:100], m)
