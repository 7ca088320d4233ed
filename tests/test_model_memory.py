"""Linear-memory forms of the flow net's quadratic tensors give the all-pairs / full-map numbers.

On-demand correlation against the all-pairs pyramid (odd level sizes, windows partly or wholly
outside the picture, huge and NaN-free coordinates), efficient attention against the map, the auto
plan against the budget, and bf16 autocast on the CPU. The fixtures of the original are compared
in every mode by tests/test_model_fidelity.py.
"""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.model.attention import ContextAttention, EfficientAttention, FullAttention
from comfyui_animeinterp.core.model.corr import CorrelationPyramid, OnDemandCorrelation, all_pairs_bytes
from comfyui_animeinterp.core.model.gridnet import GridNet
from comfyui_animeinterp.core.model.interpolator import SYNTHESIS_MARGIN, synthesis_bands
from comfyui_animeinterp.core.model.memory import CPU_BUDGET, MemoryOptions, parse_budget


def _coords(h: int, w: int, spread: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([xs, ys]).float()[None] + spread * torch.randn(1, 2, h, w, generator=g)


@pytest.mark.parametrize("h,w,spread", [(16, 16, 0.5), (17, 23, 3.0), (35, 50, 12.0)])
def test_on_demand_correlation_equals_the_all_pairs_lookup(h, w, spread):
    g = torch.Generator().manual_seed(1)
    fmap1, fmap2 = torch.randn(2, 256, h, w, generator=g), torch.randn(2, 256, h, w, generator=g)
    coords = torch.cat([_coords(h, w, spread, 0), _coords(h, w, spread, 1)])
    coords[0, 0, 0, 0] = -1e4  # every window outside the picture
    coords[0, 1, 2, 3] = 1e7
    coords[1, :, 4, 4] = torch.tensor([-4.5, h - 0.5])  # windows straddling two borders
    expected = CorrelationPyramid(fmap1, fmap2)(coords)
    actual = OnDemandCorrelation(fmap1, fmap2)(coords)
    assert actual.shape == expected.shape == (2, 4 * 81, h, w)
    assert (actual - expected).abs().max() < 2e-5 * expected.abs().max()
    assert actual[0, :, 0, 0].abs().max() == 0 and expected[1].abs().max() > 1  # not trivially zero


def test_all_pairs_bytes_counts_every_level():
    n, h, w = 1, 67, 120
    pyramid = CorrelationPyramid(torch.zeros(n, 8, h, w), torch.zeros(n, 8, h, w))
    assert all_pairs_bytes(n, h, w) == sum(v.numel() * 4 for v in pyramid.levels)


def test_efficient_attention_equals_the_map():
    torch.manual_seed(0)
    attention = ContextAttention(128)
    context, value = torch.randn(2, 128, 12, 20), torch.randn(2, 128, 240)
    with torch.no_grad():
        full = attention.prepare(context, efficient=False)
        efficient = attention.prepare(context, efficient=True)
        assert isinstance(full, FullAttention) and isinstance(efficient, EfficientAttention)
        assert full.weights.shape == (2, 240, 240) and efficient.query.shape == (2, 240, 128)
        expected, actual = full.aggregate(value), efficient.aggregate(value)
    assert (actual - expected).abs().max() < 1e-5 * expected.abs().max()


def test_auto_plan_follows_the_budget():
    cpu = torch.device("cpu")
    small, large = (1, 67, 120), (1, 135, 240)  # 960x540 and 1920x1080 on the 1/8 grid
    auto = MemoryOptions()
    assert auto.plan(*small, cpu) == auto.plan(*small, cpu)
    plan = auto.plan(*small, cpu)  # 259 MB map + 341 MB volume fit the 1 GiB default
    assert (plan.on_demand, plan.efficient) == (False, False)
    plan = auto.plan(*large, cpu)
    assert (plan.on_demand, plan.efficient) == (True, True)
    tight = MemoryOptions(budget="400MB").plan(*small, cpu)  # the map fits, the volume not what is left
    assert (tight.on_demand, tight.efficient) == (True, False)
    without_gma = MemoryOptions(budget=400 * 2**20).plan(*small, cpu, attention=False)
    assert (without_gma.on_demand, without_gma.efficient) == (False, False)
    asked = []
    provider = MemoryOptions(budget=lambda device: asked.append(device) or 8 * 2**30)
    plan = provider.plan(*large, cpu)  # the 4.2 GB map fits, the 5.6 GB volume does not fit the rest
    assert (plan.on_demand, plan.efficient) == (True, False) and asked == [cpu]
    forced = MemoryOptions("all-pairs", "full", budget=1)
    assert (forced.plan(*large, cpu).on_demand, forced.plan(*large, cpu).efficient) == (False, False)
    assert MemoryOptions().budget_bytes(cpu) == CPU_BUDGET


def test_auto_keeps_the_original_lookup_mode_and_forcing_on_demand_needs_it():
    cpu = torch.device("cpu")
    assert MemoryOptions(budget=1).plan(1, 135, 240, cpu, lookup_align_corners=False).on_demand is False
    with pytest.raises(InputError, match="align_corners"):
        MemoryOptions("on-demand").plan(1, 16, 16, cpu, lookup_align_corners=False)


def test_budget_and_mode_errors():
    assert parse_budget("2GB") == 2 * 2**30 and parse_budget("512 MiB") == 512 * 2**20
    assert parse_budget(1e9) == 10**9 and parse_budget(None) is None
    for bad in ("lots", 0, -5, True, "2 parsecs"):
        with pytest.raises(InputError):
            parse_budget(bad)
    with pytest.raises(InputError, match="correlation"):
        MemoryOptions(correlation="sparse")
    with pytest.raises(InputError, match="attention"):
        build_model("afi").set_memory_options(attention="none")


def test_model_options_are_kept_and_every_mode_gives_the_same_flows():
    torch.manual_seed(0)
    model = build_model("afi", correlation="on-demand", memory_budget="1GB").eval()
    assert (model.memory.correlation, model.memory.attention, model.memory.budget) == ("on-demand", "auto", 2**30)
    with torch.no_grad():
        model.flow_net.update.aggregator.gamma.fill_(0.5)  # a live GMA branch
    g = torch.Generator().manual_seed(0)
    frames = torch.rand(2, 1, 3, 136, 144, generator=g)
    init = 3 * torch.randn(1, 2, 136, 144, generator=g)
    flows = {}
    for modes in (("all-pairs", "full"), ("on-demand", "efficient")):
        state = model.set_memory_options(*modes).estimate(frames[0], frames[1], init, -init)
        flows[modes] = state.flow12
    assert (flows["all-pairs", "full"] - flows["on-demand", "efficient"]).abs().max() < 1e-4
    assert model.memory.budget == 2**30  # None keeps the budget


def test_bf16_autocast_runs_on_the_cpu():
    torch.manual_seed(0)
    model = build_model("afi").eval()
    model.autocast_dtype = torch.bfloat16
    g = torch.Generator().manual_seed(0)
    frame1, frame2 = torch.rand(1, 3, 128, 128, generator=g), torch.rand(1, 3, 128, 128, generator=g)
    seen = []
    hook = model.synthesis.tail.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    try:
        state = model.estimate(frame1, frame2)
        frame = model.synthesize(state, 0.5)
    finally:
        hook.remove()
    assert seen == [torch.bfloat16]  # the convolutions really ran in bf16
    assert frame.dtype == torch.float32 and torch.isfinite(frame).all()
    model.autocast_dtype = None
    reference = model.synthesize(model.estimate(frame1, frame2), 0.5)
    assert (frame - reference).abs().mean() < 0.05


def test_under_autocast_the_correlation_stays_fp32_and_the_map_is_cast_once():
    g = torch.Generator().manual_seed(3)
    fmap1, fmap2 = torch.randn(1, 256, 16, 20, generator=g), torch.randn(1, 256, 16, 20, generator=g)
    context = torch.randn(1, 128, 24, 30, generator=g)  # 720 queries: two row blocks of the softmax
    attention = ContextAttention(128).eval()
    plain = CorrelationPyramid(fmap1, fmap2)
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        pyramid = CorrelationPyramid(fmap1, fmap2)
        prepared = attention.prepare(context, efficient=False)
    # The volume is the fp32 one (no per-lookup cast back from bf16, no precision lost) ...
    assert all(a.dtype == torch.float32 and torch.equal(a, b) for a, b in zip(pyramid.levels, plain.levels))
    # ... and the attention map is bf16 once, not cast in every product, and built without a
    # whole fp32 copy (the block softmax gives what softmax of the whole similarity would).
    assert prepared.weights.dtype == torch.bfloat16
    with torch.no_grad(), torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        query, key = attention.queries_keys(context)
        whole = torch.matmul(query, key.transpose(1, 2)).float().softmax(dim=-1).to(torch.bfloat16)
    assert torch.allclose(prepared.weights.float(), whole.float(), rtol=1e-2, atol=1e-3)
    with torch.no_grad():
        exact = attention.prepare(context, efficient=False)
    assert exact.weights.dtype == torch.float32
    assert torch.allclose(prepared.weights.float(), exact.weights, rtol=1e-2, atol=1e-4)
    value = torch.randn(1, 128, 24 * 30, generator=g)
    with torch.no_grad():
        half, full = prepared.aggregate(value), exact.aggregate(value)
    assert half.shape == full.shape == value.shape and half.dtype == torch.bfloat16
    assert torch.allclose(half.float(), full, rtol=0.05, atol=0.02)


def test_synthesis_in_bands_equals_one_call():
    torch.manual_seed(0)
    model = build_model("afi").eval()
    g = torch.Generator().manual_seed(0)
    h, w = 520, 24  # 3 bands of 176 rows (the last one shorter), with SYNTHESIS_MARGIN rows of context each side
    inputs = (torch.rand(1, 6, h, w, generator=g), torch.randn(1, 64, h, w, generator=g),
              torch.randn(1, 128, h // 2, w // 2, generator=g), torch.randn(1, 192, h // 4, w // 4, generator=g))
    calls = []
    hook = model.synthesis.register_forward_hook(lambda m, i, out: calls.append(out.shape[2]))
    try:
        with torch.no_grad():
            whole = model.synthesis(*inputs)
            banded = model.synthesize_in_bands(*inputs, band_pixels=(176 + 2 * SYNTHESIS_MARGIN) * w)
    finally:
        hook.remove()
    assert calls[0] == h and len(calls) == 4 and max(calls[1:]) < h
    assert banded.shape == whole.shape
    assert (banded - whole).abs().max() <= 1e-6


def test_rendering_in_bands_equals_one_band_and_splats_per_band():
    torch.manual_seed(0)
    model = build_model("afi").eval()
    g = torch.Generator().manual_seed(3)
    h, w = 400, 132
    frame1, frame2 = torch.rand(1, 3, h, w, generator=g), torch.rand(1, 3, h, w, generator=g)
    init = 8 * torch.randn(1, 2, h, w, generator=g)  # motion that crosses band edges
    state = model.estimate(frame1, frame2, init, -init)
    whole = model.synthesize(state, 0.3)
    rows_seen = []
    hook = model.synthesis.tail.register_forward_hook(lambda m, i, out: rows_seen.append(out.shape[2]))
    model.band_pixels = (100 + 2 * SYNTHESIS_MARGIN) * w  # 4 bands of 100 rows
    try:
        banded = model.synthesize(state, 0.3)
    finally:
        hook.remove()
    assert len(rows_seen) == 4 and max(rows_seen) <= 100 + 2 * SYNTHESIS_MARGIN  # GridNet never saw the whole frame
    assert (banded - whole).abs().max() <= 1e-5


@pytest.mark.parametrize("height,width,band_pixels", [
    (544, 960, 1_342_177), (1088, 1920, 1_342_177), (2160, 3840, 1_342_177), (400, 132, 228 * 132),
    (520, 24, 304 * 24), (1088, 1920, 2**18), (64, 8, 4 * 8),
])
def test_synthesis_bands_cover_the_frame_with_the_fewest_bands_within_the_limit(height, width, band_pixels):
    bands = synthesis_bands(height, width, band_pixels)
    assert bands[0].top == 0 and bands[-1].bottom == height
    assert all(a.bottom == b.top for a, b in itertools.pairwise(bands))
    for band in bands:
        assert band.start == max(0, band.top - SYNTHESIS_MARGIN) and band.stop == min(height, band.bottom + SYNTHESIS_MARGIN)
        assert all(edge % 4 == 0 for edge in (band.top, band.bottom, band.start, band.stop))
        rows = band.stop - band.start
        assert rows * width <= band_pixels or band.bottom - band.top <= 4
    if len(bands) > 1:  # one band fewer would not fit
        fewer = -(-height // (4 * (len(bands) - 1))) * 4
        assert (fewer + SYNTHESIS_MARGIN * (2 if len(bands) > 2 else 1)) * width > band_pixels


def test_default_bands_follow_the_memory_budget():
    model = build_model("afi")
    cpu = torch.device("cpu")
    assert len(synthesis_bands(544, 960, model.memory.synthesis_band_pixels(cpu))) == 1  # 960x540: one band
    assert len(synthesis_bands(1088, 1920, model.memory.synthesis_band_pixels(cpu, 1088 * 1920))) == 2
    uhd = 2160 * 3840  # the budget's bands (1.6 MP) are larger than a sixth of 4K
    assert model.memory.synthesis_band_pixels(cpu, uhd) == 2**30 // 640
    assert len(synthesis_bands(2160, 3840, model.memory.synthesis_band_pixels(cpu, uhd))) == 7
    huge = 4096 * 4096  # a sixth of a larger picture is larger than the budget's bands
    assert model.memory.synthesis_band_pixels(cpu, huge) == huge // 6
    model.set_memory_options(memory_budget="300MB")  # a budget set by the caller is kept to
    assert len(synthesis_bands(1088, 1920, model.memory.synthesis_band_pixels(cpu, 1088 * 1920))) > 2
    assert model.memory.synthesis_band_pixels(cpu, huge) == 300 * 2**20 // 640


def test_gridnet_consumes_inputs_lazily_with_the_same_values_and_forward_leaves_inputs_alone():
    torch.manual_seed(0)
    net = GridNet().eval()
    for module in net.modules():
        if isinstance(module, torch.nn.PReLU):
            module.weight.data.uniform_(0.05, 0.3)
    g = torch.Generator().manual_seed(1)
    h, w = 48, 64
    inputs = [torch.rand(1, 6, h, w, generator=g), torch.randn(1, 64, h, w, generator=g),
              torch.randn(1, 128, h // 2, w // 2, generator=g), torch.randn(1, 192, h // 4, w // 4, generator=g)]
    kept = [x.clone() for x in inputs]
    with torch.enable_grad():
        reference = net(*inputs)  # out-of-place PReLU everywhere (autograd records)
    made, heads_run = [], []
    for name in ("head_frames", "head_level1", "head_level2", "head_level3"):
        getattr(net, name).register_forward_hook(lambda m, i, o, name=name: heads_run.append(name))

    def lazily():
        for x in inputs:
            made.append(len(heads_run))  # how many heads had run when this input was asked for
            yield x.clone().contiguous(memory_format=torch.channels_last)  # handed over

    with torch.inference_mode():
        plain = net(*inputs)
        heads_run.clear()
        consumed = net.consume(lazily())
    assert all(torch.equal(x, y) for x, y in zip(inputs, kept))  # forward never overwrote an input
    assert torch.equal(plain, reference.detach()) and torch.equal(consumed, plain)  # in-place PReLU: same bits
    assert made == [0, 1, 2, 3]  # each input made only when its head needs it
    with pytest.raises(ValueError, match="four inputs"), torch.inference_mode():
        net.consume(iter(inputs[:3]))



def test_in_place_prelu_follows_a_changed_slope_and_works_on_inference_weights():
    from comfyui_animeinterp.core.model.inplace import prelu

    x = -torch.ones(4)
    with torch.inference_mode():
        act = torch.nn.PReLU()  # parameters made in inference mode (as ComfyUI builds models)
        assert torch.equal(prelu(act, x.clone(), owned=True), act(x))
        act.weight.fill_(0.75)
        assert torch.equal(prelu(act, x.clone(), owned=True), torch.full((4,), -0.75))
    act = torch.nn.PReLU()
    act.load_state_dict({"weight": torch.tensor([0.1])})
    with torch.inference_mode():
        assert torch.equal(prelu(act, x.clone(), owned=True), act(x))


@pytest.mark.parametrize("norm", ["instance", "none"])
def test_encoder_and_feature_pyramid_in_place_give_the_recorded_values(norm):
    """Without autograd the encoder's residual sums and the pyramid's PReLUs run in place: the same
    bits as with autograd recording (out of place), and the input is left alone."""
    from comfyui_animeinterp.core.model.encoder import FeatureEncoder
    from comfyui_animeinterp.core.model.features import FeaturePyramid

    torch.manual_seed(0)
    encoder, pyramid = FeatureEncoder(norm).eval(), FeaturePyramid().eval()
    for module in pyramid.modules():
        if isinstance(module, torch.nn.PReLU):
            module.weight.data.uniform_(0.05, 0.3)
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1)) * 2 - 1
    kept = x.clone()
    with torch.enable_grad():
        recorded = (encoder(x), *pyramid(x))
    assert all(r.requires_grad for r in recorded)
    with torch.inference_mode():
        fast = (encoder(x), *pyramid(x))
    assert torch.equal(x, kept)
    assert all(torch.equal(a, b.detach()) for a, b in zip(fast, recorded))


def test_the_band_margin_covers_gridnets_receptive_field():
    """Rows farther than the reach from a changed input row come out bit for bit the same; the
    reach (one row changed at every level) must stay below SYNTHESIS_MARGIN."""
    torch.manual_seed(0)
    net = GridNet().eval()
    g = torch.Generator().manual_seed(4)
    h, w, row = 256, 8, 128
    inputs = [torch.rand(1, 6, h, w, generator=g), torch.randn(1, 64, h, w, generator=g),
              torch.randn(1, 128, h // 2, w // 2, generator=g), torch.randn(1, 192, h // 4, w // 4, generator=g)]
    changed = [x.clone() for x in inputs]
    for level, x in enumerate(changed):
        scale = (1, 1, 2, 4)[level]
        x[:, :, row // scale] += 10.0
    with torch.no_grad():
        moved = (net(*changed) != net(*inputs))[0].any(dim=0).any(dim=-1)  # (H,): rows that changed
    rows = moved.nonzero().squeeze(1)
    reach = int(max(row - rows.min(), rows.max() - row))
    assert 44 <= reach < SYNTHESIS_MARGIN


@pytest.mark.parametrize("variant", ["afi", "animeinterp"])
def test_frames_encoded_one_after_the_other_equal_one_batch(variant):
    """The encoder sees one frame at a time (half its peak memory); the original's batch of two
    gives the same features up to float rounding (oneDNN may pick another kernel for another
    batch size), also through the resize to multiples of 8."""
    torch.manual_seed(0)
    net = build_model(variant).flow_net.eval()
    g = torch.Generator().manual_seed(1)
    image1, image2 = (torch.rand(1, 3, 61, 83, generator=g) * 2 - 1 for _ in range(2))
    with torch.no_grad():
        feats1, feats2 = net.encode_pair(image1, image2)
        both = F.interpolate(torch.cat([image1, image2]), size=(56, 80), mode="bilinear", align_corners=False)
        batch = net.encoder(both).float()
    torch.testing.assert_close(feats1, batch[:1], rtol=0, atol=1e-5)
    torch.testing.assert_close(feats2, batch[1:], rtol=0, atol=1e-5)
    assert not torch.equal(feats1, feats2)
