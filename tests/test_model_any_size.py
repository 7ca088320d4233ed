"""Any frame size works (the original gives NaN below 128 px and fails off multiples of 4)."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_triplet
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.model.padding import CentredPadding


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    out = {}
    for variant in ("afi", "animeinterp"):
        model = build_model(variant).eval()
        with torch.no_grad():  # GMA's gamma starts at 0: make the branch live
            if model.flow_net.attention is not None:
                model.flow_net.update.aggregator.gamma.fill_(0.5)
        out[variant] = model
    return out


def _pair(h, w):
    scene = make_triplet(h, w, seed=3)
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    return to_tensor(scene.frame1), to_tensor(scene.frame3), torch.from_numpy(scene.flow_13)[None]


@pytest.fixture(scope="module")
def small_afi(models):
    """AFI at 64x72 (below the original's 128 px minimum): inputs and the estimated pair state."""
    i1, i2, f13 = _pair(64, 72)
    return (i1, i2, f13), models["afi"].estimate(i1, i2, f13, -f13)


def _check_outputs(model, frames, state, h, w):
    i1, i2, _ = frames
    assert state.flow12.shape == (1, 2, h, w) and state.flow21.shape == (1, 2, h, w)
    assert torch.isfinite(state.flow12).all() and torch.isfinite(state.flow21).all()
    it = model.synthesize(state, 0.25)
    assert it.shape == (1, 3, h, w) and it.dtype == torch.float32
    assert torch.isfinite(it).all()
    with torch.no_grad():
        it, f12, f21, f12in, _f21in = model(i1, i2, None, None, 0.5)
    assert it.shape == (1, 3, h, w) and f12.shape == (1, 2, h, w) and f12in is None
    assert torch.isfinite(it).all() and torch.isfinite(f12).all() and torch.isfinite(f21).all()


def test_small_size_gives_finite_outputs_of_the_input_size(models, small_afi):
    frames, state = small_afi
    _check_outputs(models["afi"], frames, state, 64, 72)


def test_odd_size_gives_finite_outputs_of_the_input_size(models):
    """101x133: odd, below 128 px on one side only, not a multiple of 4 or 8."""
    frames = _pair(101, 133)
    state = models["animeinterp"].estimate(frames[0], frames[1], frames[2], -frames[2])
    _check_outputs(models["animeinterp"], frames, state, 101, 133)


def test_per_sample_t_equals_scalar_t(models, small_afi):
    model = models["afi"]
    (i1, i2, f13), _ = small_afi
    state = model.estimate(torch.cat([i1, i2]), torch.cat([i2, i1]),
                           torch.cat([f13, -f13]), torch.cat([-f13, f13]))
    both = model.synthesize(state, torch.tensor([0.5, 0.25]))
    assert (both[:1] - model.synthesize(state, 0.5)[:1]).abs().max() < 1e-6
    assert (both[1:] - model.synthesize(state, 0.25)[1:]).abs().max() < 1e-6
    assert (both[:1] - model.synthesize(state, 0.25)[:1]).abs().max() > 1e-3


def test_valid_sizes_are_not_padded():
    assert CentredPadding.to_valid_size(128, 160, min_side=128).is_identity
    assert CentredPadding.to_valid_size(140, 156, multiple=4).is_identity
    p = CentredPadding.to_valid_size(101, 133, min_side=128, multiple=4)
    assert (p.top + p.bottom + 101, p.left + p.right + 133) == (128, 136)
    x = torch.arange(2 * 5 * 7, dtype=torch.float32).view(1, 2, 5, 7)
    tiny = CentredPadding.to_valid_size(5, 7, min_side=128)
    padded = tiny.pad(x)
    assert padded.shape == (1, 2, 128, 128)
    assert torch.equal(tiny.crop(padded), x)


def test_input_validation(models, small_afi):
    model = models["afi"]
    (i1, i2, f13), state = small_afi
    with pytest.raises(InputError, match="255"):
        model.estimate(i1 * 255, i2 * 255)
    with pytest.raises(InputError, match="NaN"):
        model.estimate(torch.full_like(i1, float("nan")), i2)
    with pytest.raises(InputError, match="shape"):
        model.estimate(i1, i2[..., :-1])
    with pytest.raises(InputError, match="init12"):
        model.estimate(i1, i2, f13[..., :-1], None)
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        model.estimate(i1[0], i2[0])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        model.synthesize(state, 1.5)
    with pytest.raises(InputError, match="one value per sample"):
        model.synthesize(state, torch.tensor([0.2, 0.4]))


def test_forward_is_differentiable_end_to_end(models, small_afi):
    """Training (style fine-tuning) backpropagates through GridNet, the splat and the flow net."""
    model = models["afi"]
    (i1, i2, f13), _ = small_afi
    model.zero_grad(set_to_none=True)
    try:
        it, *_ = model(i1, i2, f13, -f13, 0.5)
        it.mean().backward()
        grads = {name: p.grad for name, p in model.named_parameters()}
        for name in ("synthesis.tail.conv2.bias", "features.level1.conv1.weight",
                     "flow_net.update.gru.vertical.candidate.weight", "flow_net.encoder.stem.weight",
                     "flow_net.attention.to_query_key.weight", "flow_net.update.mask_head.conv2.weight"):
            assert grads[name] is not None and grads[name].abs().sum() > 0, name
    finally:
        model.zero_grad(set_to_none=True)
