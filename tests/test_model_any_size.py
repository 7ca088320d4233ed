"""Any frame size works (the original gives NaN below 128 px and fails off multiples of 4)."""
from __future__ import annotations

import pytest
import torch

from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.model.padding import CentredPadding
from comfyui_animeinterp.core.synthetic import make_triplet


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
    to_tensor = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    return to_tensor(scene.frame1), to_tensor(scene.frame3), torch.from_numpy(scene.flow_13)[None]


@pytest.mark.parametrize("variant", ["afi", "animeinterp"])
@pytest.mark.parametrize("h,w", [(64, 72), (101, 133), (130, 97)])
def test_small_and_odd_sizes_give_finite_outputs_of_the_input_size(models, variant, h, w):
    model = models[variant]
    i1, i2, f13 = _pair(h, w)
    state = model.estimate(i1, i2, f13, -f13)
    assert state.flow12.shape == (1, 2, h, w) and state.flow21.shape == (1, 2, h, w)
    assert torch.isfinite(state.flow12).all() and torch.isfinite(state.flow21).all()
    for t in (0.25, 0.5):
        it = model.synthesize(state, t)
        assert it.shape == (1, 3, h, w) and it.dtype == torch.float32
        assert torch.isfinite(it).all()
    with torch.no_grad():
        it, f12, f21, f12in, f21in = model(i1, i2, None, None, 0.5)
    assert it.shape == (1, 3, h, w) and f12.shape == (1, 2, h, w) and f12in is None
    assert torch.isfinite(it).all() and torch.isfinite(f12).all()


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


def test_input_validation(models):
    model = models["afi"]
    i1, i2, f13 = _pair(64, 72)
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
    state = model.estimate(i1, i2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        model.synthesize(state, 1.5)
    with pytest.raises(InputError, match="one value per sample"):
        model.synthesize(state, torch.tensor([0.2, 0.4]))
