"""Segment matching: faithful to the original (fixture) and correct on synthetic shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.features.vgg19 import LAYER_INDEX, build_vgg19, random_vgg19
from comfyui_animeinterp.core.sgm import describe as D
from comfyui_animeinterp.core.sgm import match as M
from comfyui_animeinterp.core.sgm.stats import segment_stats
from safetensors.torch import load_file

from tests.support.weight_rule import rule_state_dict


@pytest.fixture(scope="module")
def sgm_fixture(fixtures_dir):
    return load_file(str(fixtures_dir / "sgm_synth_432x240_vggrule_seed0.safetensors"))


@pytest.fixture(scope="module")
def rule_vgg(fixtures_dir):
    return build_vgg19(rule_state_dict(fixtures_dir / "keys_vgg19.txt"))


def _rgb(bgr: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(bgr.numpy()[:, :, ::-1])


def test_published_thresholds_are_pinned():
    assert M.SIZE_RATIO_LIMIT == 3.0 and M.SIZE_PENALTY_DIVISOR == 20.0
    assert M.DISTANCE_LIMIT == 0.14 and M.DISTANCE_PENALTY_DIVISOR == 5.0
    # the layers the original code really pools (not the thesis text's relu1_2/2_2/3_4/4_4)
    assert D.SGM_LAYERS == ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
    assert [LAYER_INDEX[n] for n in D.SGM_LAYERS] == [1, 6, 11, 20]


def test_features_affinity_and_matches_equal_the_original(sgm_fixture, rule_vgg):
    d = sgm_fixture
    f1, f3 = _rgb(d["img1_bgr"]), _rgb(d["img3_bgr"])
    l1, l3 = d["labelMap1"].numpy(), d["labelMap3"].numpy()
    p1 = D.normalise_features(D.vgg_segment_features(rule_vgg, f1, l1, 8))
    p3 = D.normalise_features(D.vgg_segment_features(rule_vgg, f3, l3, 8))
    torch.testing.assert_close(p1, d["feat_p1_norm"], atol=1e-6, rtol=0)
    torch.testing.assert_close(p3, d["feat_p3_norm"], atol=1e-6, rtol=0)
    m = M.match_segments(f1, f3, l1, l3, vgg=rule_vgg)
    torch.testing.assert_close(m.affinity, d["corrMap"], atol=1e-6, rtol=0)
    for ours, key in [(m.rank_sum_13, "rankSum_1to3"), (m.match_13, "matching_1to3"),
                      (m.rank_sum_31, "rankSum_3to1"), (m.match_31, "matching_3to1")]:
        assert torch.equal(ours.to(torch.int32), d[key]), key
    np.testing.assert_array_equal(m.stats1.pixel_counts, d["pixelCounts_1"].numpy())
    np.testing.assert_array_equal(m.stats1.centroid_x, d["mean_X_1"].numpy())
    np.testing.assert_array_equal(m.stats3.centroid_y, d["mean_Y_3"].numpy())


def test_penalties_change_the_affinity_as_published():
    """One segment pair far apart and of very different size gets both penalties."""
    labels1 = np.zeros((100, 200), np.int32)
    labels1[10:20, 10:20] = 1  # 100 px, top-left
    labels3 = np.zeros((100, 200), np.int32)
    labels3[40:90, 120:190] = 1  # 3500 px, far right
    s1, s3 = segment_stats(labels1), segment_stats(labels3)
    p = torch.full((4, 2), 0.25)
    aff = M.penalised_affinity(p, p, s1, s3)
    ratio = 3500 / 100
    d = np.hypot(s1.centroid_x[1] - s3.centroid_x[1], s1.centroid_y[1] - s3.centroid_y[1]) / np.hypot(100, 200)
    assert d > 0.14
    expected = np.float32(np.float32(1.0) - np.float32(ratio / 20)) - np.float32(d / 5)
    assert aff[1, 1].item() == pytest.approx(float(expected), abs=1e-6)


def test_mutual_matching_needs_both_directions():
    aff = torch.tensor([[0.9, 0.8], [0.95, 0.1]])
    r13, m13, _r31, _m31 = M.mutual_matching(aff)
    # row 1 prefers column 0, and column 0 prefers row 1 -> mutual; row 0's best (col 0) is taken
    assert m13.tolist()[1] == 0 and r13.tolist()[1] == 0
    assert r13.tolist()[0] > 0


def test_pooling_is_a_per_label_mean_with_zero_for_absent_labels():
    f = torch.arange(12, dtype=torch.float32).view(1, 3, 4)
    lab = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    out = D.pool_by_label(f, lab, 4)
    assert out[0].tolist() == [2.5, 4.5, 9.5, 0.0]


@pytest.mark.parametrize("channels_last", [False, True])
def test_pooling_sums_each_channel_in_pixel_order_like_a_scatter(channels_last):
    """The original pooled with a per-channel scatter; ours must give the same float32 bits."""
    g = torch.Generator().manual_seed(0)
    f = torch.rand(1, 24, 37, 53, generator=g) * 100
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    lab = torch.randint(0, 9, (37, 53), generator=g)
    flat = lab.reshape(-1)
    sums = torch.zeros(24, 10).scatter_add_(1, flat.expand(24, -1), f[0].reshape(24, -1))
    reference = sums / torch.bincount(flat, minlength=10).float().clamp(min=1)
    assert torch.equal(D.pool_by_label(f[0], lab, 10), reference)


@pytest.mark.parametrize("features", ["colour", "vgg"])
def test_synthetic_shapes_match_their_own_shape(synthetic_triplet, features):
    """Label maps from the owner maps (each drawn shape one segment): matches pair equal owners."""
    t = synthetic_triplet
    vgg = random_vgg19(0) if features == "vgg" else None
    l1, l3 = t.owner1.astype(np.int32), t.owner3.astype(np.int32)
    m = M.match_segments(t.frame1, t.frame3, l1, l3, features=features, vgg=vgg)
    pairs = m.mutual_pairs()
    assert len(pairs) >= l1.max()  # nearly every shape finds its partner
    assert all(i == j for i, j in pairs)


def test_bad_inputs_are_refused(synthetic_triplet):
    t = synthetic_triplet
    l1 = t.owner1.astype(np.int32)
    with pytest.raises(InputError, match="agree"):
        M.match_segments(t.frame1, t.frame3[:100], l1, l1, features="colour")
    with pytest.raises(InputError, match="VGG"):
        M.match_segments(t.frame1, t.frame3, l1, l1, features="vgg", vgg=None)
    with pytest.raises(InputError, match="gaps"):
        gap = l1.copy()
        gap[gap == 2] = 1
        M.match_segments(t.frame1, t.frame3, gap, l1, features="colour")
