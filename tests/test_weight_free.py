"""The weight-free path: DIS seeded by SGM, occlusion-aware splat blending, end to end offline."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_triplet
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.io.images import to_image, to_tensor
from comfyui_animeinterp.core.pipeline import Interpolator, evenly_spaced_times
from comfyui_animeinterp.core.sgm.coarse_flow import CoarseFlow
from comfyui_animeinterp.core.weightfree.align import align_at_t
from comfyui_animeinterp.core.weightfree.blend import blend_at, consistency_error, fill_holes, motion_at
from comfyui_animeinterp.core.weightfree.refine import fuse_flows, refine_dis
from comfyui_animeinterp.core.weightfree.warp import pixel_grid, warp, warp_both


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def test_consistency_error_is_zero_for_consistent_flows_and_large_for_occluded():
    f = torch.zeros(1, 2, 20, 30)
    f[:, 0] = 3.0
    assert consistency_error(f, -f)[:, :, :, :25].abs().max() < 1e-5
    assert consistency_error(f, torch.zeros_like(f)).min() > 2.9


def test_blend_with_exact_flows_reconstructs_a_translation():
    """A textured frame translated by 4 px: splatting half-way gives the frame shifted by 2 px."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    base = np.repeat(np.repeat(base, 2, 0), 2, 1)  # 80x120, blocky
    f1, f3, mid = base[:, 8:108], base[:, 4:104], base[:, 6:106]
    flow = torch.zeros(1, 2, 80, 100)
    flow[:, 0] = 4.0  # a point of base column p sits at p - 8 in f1 and p - 4 in f3
    out = to_image(blend_at(to_tensor(f1), to_tensor(f3), flow, -flow, 0.5))
    assert psnr(out[:, 10:-10], mid[:, 10:-10]) > 40


def test_blend_validates_inputs():
    x = torch.zeros(1, 3, 16, 16)
    f = torch.zeros(1, 2, 16, 16)
    with pytest.raises(InputError):
        blend_at(x, x, f, f, 1.0)
    with pytest.raises(InputError):
        blend_at(x, x, f[..., :8], f, 0.5)


def test_weight_free_pipeline_beats_blending_and_plain_dis_on_synthetic_frames():
    """End to end with no weights: SGM (colour features) + DIS refinement + splat blending.

    The full comparison over more scenes is bench/bench_weight_free.py; here two scenes with
    large motion must already show the gain (measured: about +7 dB over blending)."""
    interp = Interpolator()  # no model, no VGG: fully offline
    assert interp.weight_free
    gains_blend, gains_dis = [], []
    for seed in (1, 2):
        t = make_triplet(240, 432, seed=seed, max_shift=40)
        ours = interp.interpolate(t.frame1, t.frame3, [0.5])[0]
        blend = ((t.frame1.astype(np.uint16) + t.frame3) // 2).astype(np.uint8)
        plain = refine_dis(t.frame1, t.frame3, None)
        dis = to_image(blend_at(to_tensor(t.frame1), to_tensor(t.frame3), torch.from_numpy(plain.flow_13)[None],
                                torch.from_numpy(plain.flow_31)[None], 0.5))
        gains_blend.append(psnr(ours, t.frame2) - psnr(blend, t.frame2))
        gains_dis.append(psnr(ours, t.frame2) - psnr(dis, t.frame2))
    assert min(gains_blend) > 3.0
    assert np.mean(gains_dis) > 0.5


def test_pipeline_times_and_shapes(synthetic_triplet):
    t = synthetic_triplet
    interp = Interpolator()
    pair = interp.prepare(t.frame1, t.frame3)
    assert pair.flows.flow_13.shape == (2, 240, 432)
    frames = [interp.frame_at(pair, x) for x in evenly_spaced_times(4)]
    assert len(frames) == 3 and all(f.shape == (240, 432, 3) and f.dtype == np.uint8 for f in frames)
    with pytest.raises(InputError):
        interp.frame_at(pair, 0.0)
    with pytest.raises(InputError):
        evenly_spaced_times(1)


@pytest.mark.parametrize("shape", [(37, 53, 3), (64, 64, 4), (50, 70)])
def test_pipeline_accepts_odd_sizes_alpha_and_grey(shape):
    a = np.full(shape, 200, np.uint8)
    b = a.copy()
    sl = (slice(10, 20), slice(10, 25))
    a[sl] = 30
    b[(slice(12, 22), slice(14, 29))] = 30
    out = Interpolator().interpolate(a, b, [0.5])[0]
    assert out.shape == shape[:2] + (3,)


def test_pipeline_refuses_mismatched_sizes(synthetic_triplet):
    t = synthetic_triplet
    with pytest.raises(InputError, match="same size"):
        Interpolator().interpolate(t.frame1, t.frame3[:200], [0.5])


def test_exact_flows_with_very_large_motion_leave_no_black_holes():
    """Occluded pixels of a 130 px motion have forward-backward errors far above 87 px, where
    exp(-error) underflows in float32; they must still splat with their colour, not as black."""
    t = make_triplet(270, 480, seed=0, max_shift=130)
    out = to_image(blend_at(to_tensor(t.frame1), to_tensor(t.frame3), torch.from_numpy(t.flow_13)[None],
                            torch.from_numpy(t.flow_31)[None], 0.5))
    assert (out.max(axis=2) < 10).mean() == 0  # the drawing has no black at all (outlines are 28+)
    assert psnr(out, t.frame2) > 20  # 13 dB when the occluded pixels came out black


def test_fusion_takes_per_pixel_the_flow_that_explains_the_frames():
    """Left half moves 4 px right, right half stays: of a uniform-shift and a zero candidate, the
    fused flow takes each where it warps frame 3 onto frame 1."""
    rng = np.random.default_rng(1)
    base = np.repeat(np.repeat(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), 2, 0), 2, 1)
    f1 = base.copy()
    f3 = base.copy()
    f3[:, 4:60] = base[:, 0:56]  # left half content moves right by 4 px
    shift = np.zeros((2, 80, 120), np.float32)
    shift[0] = 4.0
    zero = np.zeros_like(shift)
    fused = fuse_flows(f1, f3, [zero, shift])
    assert (fused[0, 10:-10, 10:45] == 4.0).all()
    assert (fused[0, 10:-10, 75:-10] == 0.0).all()


def test_weight_free_refinement_recovers_from_wrongly_trusted_coarse_flow():
    """A coarse flow that is wrong yet marked valid everywhere (a bad SGM match) must not survive
    refinement: the unseeded DIS candidate explains the frames better where it matters, so the
    in-between is about as good as plain DIS's (keeping the wrong flow costs over 5 dB). The
    in-betweens come from plain warping along the flows (the DIS baseline's formula): the
    weight-free synthesis corrects the motion itself (``align_at_t``) and would hide the refiner's
    errors."""
    t = make_triplet(240, 432, seed=3)
    wrong = np.zeros((2, 240, 432), np.float32)
    wrong[0], wrong[1] = 25.0, -18.0
    everywhere = np.ones((240, 432), bool)
    grid = pixel_grid(240, 432)

    def middle(f13: np.ndarray, f31: np.ndarray) -> float:
        out = (0.5 * warp(t.frame1.astype(np.float32), f31, 0.5, grid)
               + 0.5 * warp(t.frame3.astype(np.float32), f13, 0.5, grid))
        return psnr(np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8), t.frame2)

    refined = refine_dis(t.frame1, t.frame3, CoarseFlow(wrong, wrong, everywhere, everywhere))
    plain = refine_dis(t.frame1, t.frame3, None)
    assert middle(refined.flow_13, refined.flow_31) > middle(plain.flow_13, plain.flow_31) - 1.5
    assert middle(refined.flow_13, refined.flow_31) > middle(wrong, wrong) + 5.0


def test_fill_holes_keeps_known_values_and_fills_holes_from_their_surroundings():
    values = np.zeros((2, 32, 48), np.float32)
    values[0], values[1] = 3.0, -2.0
    mass = np.ones((32, 48), np.float32)
    mass[10:20, 15:30] = 0.0  # a hole; its values are garbage
    values[:, 10:20, 15:30] = 100.0
    filled = fill_holes(values, mass)
    assert np.allclose(filled[0], 3.0, atol=1e-4) and np.allclose(filled[1], -2.0, atol=1e-4)


def test_motion_at_t_puts_a_moving_figure_in_front_of_a_still_background():
    """A 6x6 block moves 20 px right over a still background: at t = 0.5 the pixels half-way carry
    the block's motion, not an average with the (equally consistent) background beneath."""
    h, w = 40, 60
    f13 = torch.zeros(1, 2, h, w)
    f31 = torch.zeros(1, 2, h, w)
    f13[0, 0, 17:23, 10:16] = 20.0  # block in frame 1 at x 10..15, in frame 3 at x 30..35
    f31[0, 0, 17:23, 30:36] = -20.0
    motion, vis1, _vis3 = motion_at(f13, f31, 0.5)
    assert np.allclose(motion[0, 18:22, 21:25], 20.0, atol=1e-3)
    assert np.allclose(motion[:, :5], 0.0, atol=1e-3)  # the background far away stays still
    assert vis1.shape == (h, w) and 0.0 <= vis1.min() and vis1.max() <= 1.0


def test_unreliable_motion_falls_back_to_the_crossfade_instead_of_fragments():
    """Random flows on a real-looking drawing explain nothing: the result stays near the
    cross-fade (never below it by more than 0.5 dB), where warping with those flows alone shreds the
    frame (measured: 14.3 dB against the cross-fade's 16.7, and 15.9 dB from the cross-fade)."""
    t = make_triplet(120, 200, seed=3, max_shift=30)
    rng = np.random.default_rng(0)
    noise13 = torch.from_numpy(rng.normal(0, 15, (1, 2, 120, 200)).astype(np.float32))
    noise31 = torch.from_numpy(rng.normal(0, 15, (1, 2, 120, 200)).astype(np.float32))
    out = to_image(blend_at(to_tensor(t.frame1), to_tensor(t.frame3), noise13, noise31, 0.5))
    crossfade = ((t.frame1.astype(np.uint16) + t.frame3 + 1) // 2).astype(np.uint8)
    assert psnr(out, t.frame2) > psnr(crossfade, t.frame2) - 0.5
    assert psnr(out, crossfade) > 25


def test_blend_is_deterministic_across_thread_counts():
    t = make_triplet(96, 160, seed=4, max_shift=20)
    flows = refine_dis(t.frame1, t.frame3, None)
    f13, f31 = torch.from_numpy(flows.flow_13)[None], torch.from_numpy(flows.flow_31)[None]
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, max(2, threads)):
            torch.set_num_threads(n)
            outs.append(to_image(blend_at(to_tensor(t.frame1), to_tensor(t.frame3), f13, f31, 0.3)).tobytes())
    finally:
        torch.set_num_threads(threads)
    assert outs[0] == outs[1]


def _moving_piece() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames 80x120: a flat grey 30x30 piece (label 1) moves 6 px right over a still textured
    background (label 0), and the piece's label map in frame 1."""
    rng = np.random.default_rng(2)
    background = np.repeat(np.repeat(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), 2, 0), 2, 1)
    f1, f3 = background.copy(), background.copy()
    f1[25:55, 40:70] = 128
    f3[25:55, 46:76] = 128
    labels = np.zeros((80, 120), np.int32)
    labels[25:55, 40:70] = 1
    return f1, f3, labels


def test_fusion_gives_each_drawn_piece_one_candidate_flow():
    """Inside a flat piece zero flow warps the piece onto itself as well as its true motion does, so
    the per-pixel choice tears it (some pixels stay, its edges move); with the label map the whole
    piece takes the flow that explains it best, and the large background still chooses per pixel."""
    f1, f3, labels = _moving_piece()
    zero = np.zeros((2, 80, 120), np.float32)
    shift = zero.copy()
    shift[0] = 6.0
    per_pixel = fuse_flows(f1, f3, [zero, shift])
    piece = per_pixel[0][labels == 1]
    assert (piece == 0.0).any() and (piece == 6.0).any()  # torn: one piece, two motions
    fused = fuse_flows(f1, f3, [zero, shift], labels)
    assert (fused[0][labels == 1] == 6.0).all() and (fused[1] == 0.0).all()
    assert (fused[0, :, :25] == 0.0).all() and (fused[0, :, 95:] == 0.0).all()  # background per pixel


def test_refine_dis_takes_label_maps_at_the_working_size():
    """SGM's label maps may be smaller than the frames: they are nearest-resized, and a label map of
    the wrong rank or with negative labels is an InputError."""
    f1, f3, labels = _moving_piece()
    small = labels[::2, ::2]
    upsized = np.repeat(np.repeat(small, 2, 0), 2, 1)
    full = refine_dis(f1, f3, CoarseFlow(np.zeros((2, 80, 120)), np.zeros((2, 80, 120)),
                                         np.zeros((80, 120), bool), np.zeros((80, 120), bool)), (small, small))
    again = refine_dis(f1, f3, CoarseFlow(np.zeros((2, 80, 120)), np.zeros((2, 80, 120)),
                                          np.zeros((80, 120), bool), np.zeros((80, 120), bool)), (upsized, upsized))
    assert np.array_equal(full.flow_13, again.flow_13) and np.array_equal(full.flow_31, again.flow_31)
    with pytest.raises(InputError):
        refine_dis(f1, f3, None, (labels[0], labels[0]))
    with pytest.raises(InputError):
        fuse_flows(f1, f3, [np.zeros((2, 80, 120), np.float32)] * 2, -np.ones((80, 120), np.int32))


def test_inconsistency_is_zero_for_inverse_flows_and_capped_for_contradicting_ones():
    from comfyui_animeinterp.core.weightfree.refine import CONSISTENCY_CAP_PX, inconsistency

    f = np.zeros((2, 30, 40), np.float32)
    f[0], f[1] = 3.0, -2.0
    assert np.abs(inconsistency(f, -f, 3)[:, :35]).max() < 1e-5
    assert np.allclose(inconsistency(f, np.zeros_like(f), 3), np.hypot(3.0, 2.0), atol=1e-5)
    assert np.allclose(inconsistency(f * 20, f * 20, 3), CONSISTENCY_CAP_PX)


def test_clip_refinement_chooses_per_piece_like_the_one_call_pipeline():
    """The per-stage path (segment_clip -> match_clip -> coarse_flow_clip -> refine_clip, as the
    nodes run it) carries SGM's label maps to the weight-free refiner, so its flows are those of the
    one-call Interpolator for every pair, not a per-pixel choice among the candidates."""
    from comfyui_animeinterp.core.clip.render import refine_clip
    from comfyui_animeinterp.core.sgm.clip import coarse_flow_clip, match_clip, segment_clip
    from comfyui_animeinterp.core.sgm.run import SGMOptions

    tri = make_triplet(120, 216, seed=3, max_shift=20.0)
    frames = [tri.frame1, tri.frame2, tri.frame3]
    options = SGMOptions(features="colour", coarse_flow_dis="fast")
    coarse = coarse_flow_clip(match_clip(segment_clip(frames, options), "colour"))
    assert len(coarse.labels) == 2 and coarse.labels[0][1] is coarse.labels[1][0]
    refined = refine_clip(frames, coarse)
    interp = Interpolator(sgm=options)
    for k in range(2):
        expected = interp.prepare(frames[k], frames[k + 1]).flows
        assert np.array_equal(refined.pairs[k].flow_13, expected.flow_13)
        assert np.array_equal(refined.pairs[k].flow_31, expected.flow_31)


def _translation() -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
    rng = np.random.default_rng(0)
    base = np.repeat(np.repeat(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), 2, 0), 2, 1)
    flow = torch.zeros(1, 2, 80, 100)
    flow[:, 0] = 4.0
    return base[:, 8:108], base[:, 4:104], base[:, 6:106], flow


def test_a_further_flow_hypothesis_takes_the_regions_it_explains_better(monkeypatch):
    """With wrong main flows (zero) and the exact translation as an alternative, the mix follows the
    alternative (the warped frames agree there) and reconstructs the in-between; swapped, or with a
    third wrong hypothesis, the same; equal hypotheses give what one gives. The mix is tested alone:
    the motion correction at t (``align_at_t``, tested below) would repair the zero flow itself."""
    from comfyui_animeinterp.core.weightfree import blend

    monkeypatch.setattr(blend, "align_at_t", lambda f1, f3, motion, t, w1, w3: (motion, w1, w3))
    f1, f3, mid, flow = _translation()
    zero = torch.zeros_like(flow)
    a, b = to_tensor(f1), to_tensor(f3)
    wrong = to_image(blend_at(a, b, zero, zero, 0.5))
    assert psnr(wrong[:, 10:-10], mid[:, 10:-10]) < 25
    for main, others in (((zero, zero), [(flow, -flow)]), ((flow, -flow), [(zero, zero)]),
                         ((zero, zero), [(flow, -flow), (zero, zero)])):
        out = to_image(blend_at(a, b, *main, 0.5, others))
        assert psnr(out[:, 10:-10], mid[:, 10:-10]) > 40
    same = blend_at(a, b, flow, -flow, 0.5, [(flow, -flow), (flow, -flow)])
    assert torch.allclose(same, blend_at(a, b, flow, -flow, 0.5), atol=1e-6)
    with pytest.raises(InputError):
        blend_at(a, b, flow, -flow, 0.5, [(flow[..., :50], flow[..., :50])])
    with pytest.raises(InputError):
        blend_at(a, b, flow, -flow, 0.5, [(flow,)])


def test_mix_hypotheses_hedges_where_neither_explains_better():
    from comfyui_animeinterp.core.weightfree.blend import mix_hypotheses

    one, two = np.zeros((40, 60, 3), np.float32), np.ones((40, 60, 3), np.float32)
    flat = np.full((40, 60), 0.5, np.float32)
    assert np.allclose(mix_hypotheses([one, two], [flat, flat]), 0.5)
    assert np.allclose(mix_hypotheses([one, two, two], [flat, flat, flat]), 2 / 3)
    better = flat.copy()
    better[:, 30:] = 0.0  # the first explains the right half far better
    mixed = mix_hypotheses([one, two], [better, flat])
    assert np.allclose(mixed[:, 50:], 0.0, atol=1e-6) and np.allclose(mixed[:, :10], 0.5)


def test_where_two_hypotheses_warp_alike_the_one_with_consistent_flows_takes_the_pixel():
    from comfyui_animeinterp.core.weightfree.blend import (
        HYPOTHESIS_TEMPERATURE,
        INCONSISTENCY_COST,
        mix_hypotheses,
        synthesize,
    )

    # Horizontal stripes: any sideways motion warps them the same, so the warps cannot tell a
    # right motion (none) from a wrong one (6 px right both ways: 12 px forward-backward gap).
    rows = (np.arange(48, dtype=np.float32) % 8 < 4).astype(np.float32)
    frame = np.repeat(np.repeat(rows[:, None], 80, axis=1)[..., None], 3, axis=2)
    still = torch.zeros(1, 2, 48, 80)
    torn = still.clone()
    torn[:, 0] = 6.0
    result_still, cost_still = synthesize(frame, frame, still, still, 0.5)
    result_torn, cost_torn = synthesize(frame, frame, torn, torn, 0.5)
    assert np.allclose(result_still, frame, atol=1e-5) and np.allclose(result_torn, frame, atol=1e-5)
    inner = (slice(None), slice(20, 60))  # away from the border the torn warps clamp at
    assert np.allclose(cost_still[inner], 0.0, atol=1e-5)
    assert np.allclose(cost_torn[inner], INCONSISTENCY_COST * 12.0, atol=1e-3)
    # any two in-betweens mixed with these costs: the consistent hypothesis' one wins, the torn one
    # keeps a share of 1 / (1 + e^(12 px x cost / temperature))
    mine, other = np.zeros_like(frame), np.ones_like(frame)
    torn_share = 1.0 / (1.0 + np.exp(12.0 * INCONSISTENCY_COST / HYPOTHESIS_TEMPERATURE))
    assert torn_share < 1e-3
    assert np.allclose(mix_hypotheses([other, mine], [cost_torn, cost_still])[inner], torn_share, rtol=0.05)


def test_refinement_keeps_plain_and_seeded_dis_as_alternative_hypotheses():
    import cv2

    t = make_triplet(96, 160, seed=1, max_shift=12)
    zero = np.zeros((2, 96, 160), np.float32)
    refined = refine_dis(t.frame1, t.frame3, CoarseFlow(zero, zero, np.zeros((96, 160), bool), np.zeros((96, 160), bool)))
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (t.frame1, t.frame3)]
    dis = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM)
    (plain13, plain31), (seeded13, seeded31) = refined.alternatives
    assert np.array_equal(plain13, dis.calc(grey[0], grey[1], None).transpose(2, 0, 1))
    # exactly plain: a DIS object once given an initial flow would start later calls from its result
    back = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM).calc(grey[1], grey[0], None)
    assert np.array_equal(plain31, back.transpose(2, 0, 1))
    seeded = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_MEDIUM).calc(grey[0], grey[1], zero.transpose(1, 2, 0).copy())
    assert np.array_equal(seeded13, seeded.transpose(2, 0, 1)) and seeded31.shape == (2, 96, 160)
    assert refine_dis(t.frame1, t.frame3).alternatives == ()  # plain DIS already: no further hypotheses


def test_alignment_at_t_removes_a_motion_error_the_warps_show():
    """Both frames warped along a motion 3 px off show the pattern twice; the residual between the
    warps corrects the motion, and the corrected warps agree."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.random((120, 200)).astype(np.float32), (0, 0), 2.0)
    texture = (texture - texture.min()) / (texture.max() - texture.min())
    frame1 = np.repeat(texture[:, 20:180, None], 3, axis=2)  # the pattern moves 8 px to the right
    frame3 = np.repeat(texture[:, 12:172, None], 3, axis=2)
    motion = np.zeros((2, 120, 160), np.float32)
    motion[0] = 11.0
    w1, w3 = warp_both(frame1, frame3, motion, 0.5)
    corrected, v1, v3 = align_at_t(frame1, frame3, motion, 0.5, w1, w3)
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(corrected[0][inner] - 8.0).mean() < 0.5 and np.abs(corrected[1][inner]).mean() < 0.5
    assert np.abs(v1 - v3)[inner].mean() < 0.25 * np.abs(w1 - w3)[inner].mean()
    right = motion.copy()
    right[0] = 8.0
    same, _, _ = align_at_t(frame1, frame3, right, 0.5, *warp_both(frame1, frame3, right, 0.5))
    assert np.abs(same[0][inner] - 8.0).max() < 0.5  # a right motion stays right


def test_a_zero_flow_of_a_small_translation_is_repaired_at_t():
    """The whole synthesis with a uniformly wrong motion (zero for a 4 px translation): the
    correction at t finds the translation and the in-between is exact."""
    f1, f3, mid, flow = _translation()
    zero = torch.zeros_like(flow)
    out = to_image(blend_at(to_tensor(f1), to_tensor(f3), zero, zero, 0.5))
    assert psnr(out[:, 10:-10], mid[:, 10:-10]) > 40
