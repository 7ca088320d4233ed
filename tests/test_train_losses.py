"""Style loss: both definitions against direct re-statements of their formulas, gradients, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.features.vgg19 import LAYER_INDEX, random_vgg19
from comfyui_animeinterp.core.train.losses import (
    LAYER_WEIGHTS,
    STYLE_LAYERS,
    LossWeights,
    StyleLoss,
    gram_matrix,
)

STYLE = LossWeights(1.0, 0.25, 40.0)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def vgg():
    return random_vgg19(3)


@pytest.fixture(scope="module")
def pair():
    g = torch.Generator().manual_seed(0)
    return torch.rand(2, 3, 40, 48, generator=g), torch.rand(2, 3, 40, 48, generator=g)


def _activations(vgg, x, upto):
    """Run torchvision's feature stack layer by layer, keeping every output (independent of the taps API)."""
    outs = []
    for layer in vgg.features[: upto + 1]:
        x = layer(x)
        outs.append(x)
    return outs


def test_layer_weights_are_the_thesis_values():
    assert STYLE_LAYERS == ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
    assert [round(w, 4) for w in LAYER_WEIGHTS] == [0.3846, 0.2083, 0.2703, 0.1786, 6.6667]


def test_thesis_definition_matches_its_formula(vgg, pair):
    pred, target = pair
    terms = StyleLoss(vgg)(pred, target, STYLE)
    acts_p = _activations(vgg, (pred - MEAN) / STD, LAYER_INDEX["relu5_2"])
    acts_t = _activations(vgg, (target - MEAN) / STD, LAYER_INDEX["relu5_2"])
    l1 = (pred - target).abs().mean()
    vgg_term = gram_term = 0.0
    for w, name in zip(LAYER_WEIGHTS, STYLE_LAYERS):
        p, t = acts_p[LAYER_INDEX[name]], acts_t[LAYER_INDEX[name]]
        vgg_term += w * (p - t).abs().mean()
        _n, _c, h, wd = p.shape
        gp = torch.einsum("nchw,ndhw->ncd", p, p) / (h * wd)
        gt = torch.einsum("nchw,ndhw->ncd", t, t) / (h * wd)
        gram_term += w * ((gp - gt) ** 2).mean()
    torch.testing.assert_close(terms.l1, l1)
    torch.testing.assert_close(terms.vgg, vgg_term, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(terms.gram, gram_term, rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(terms.total, l1 + 0.25 * vgg_term + 40.0 * gram_term, rtol=1e-5, atol=1e-7)


def test_afi_definition_reproduces_the_afi_code_semantics(vgg, pair):
    """ARCHITECTURE.md §7: ImageNet-normalise, resize to 224 for all terms, chained slices that skip
    conv3_3/3_4 and conv4_3/4_4, unnormalised Gram, MSE over C x C."""
    pred, target = pair[0][:1], pair[1][:1]
    terms = StyleLoss(vgg, definition="afi")(pred, target, STYLE)
    x = F.interpolate((pred - MEAN) / STD, size=(224, 224), mode="bilinear", align_corners=False)
    y = F.interpolate((target - MEAN) / STD, size=(224, 224), mode="bilinear", align_corners=False)
    l1 = (x - y).abs().mean()
    slices = [(0, 4), (4, 9), (9, 14), (18, 23), (27, 32)]
    vgg_term = gram_term = 0.0
    for w, (a, b) in zip(LAYER_WEIGHTS, slices):
        for layer in vgg.features[a:b]:
            x, y = layer(x), layer(y)
        vgg_term += w * F.l1_loss(x, y)
        fx, fy = x.flatten(2), y.flatten(2)
        gram_term += w * F.mse_loss(fx @ fx.transpose(1, 2), fy @ fy.transpose(1, 2))
    torch.testing.assert_close(terms.l1, l1)
    torch.testing.assert_close(terms.vgg, vgg_term, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(terms.gram, gram_term, rtol=1e-4, atol=0.0)
    # the 4th "relu4_2" output of the chain is not VGG's real relu4_2
    real = _activations(
        vgg,
        F.interpolate((pred - MEAN) / STD, size=(224, 224), mode="bilinear", align_corners=False),
        LAYER_INDEX["relu4_2"],
    )[-1]
    chained = F.interpolate((pred - MEAN) / STD, size=(224, 224), mode="bilinear", align_corners=False)
    for a, b in slices[:4]:
        chained = vgg.features[a:b](chained)
    assert real.shape == chained.shape and not torch.allclose(real, chained)


def test_gram_normalisations():
    f = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5) / 100
    raw = gram_matrix(f, "none")
    torch.testing.assert_close(raw[1], f[1].reshape(3, 20) @ f[1].reshape(3, 20).T)
    torch.testing.assert_close(gram_matrix(f, "locations"), raw / 20)
    torch.testing.assert_close(gram_matrix(f, "elements"), raw / 60)
    with pytest.raises(InputError, match="Gram normalisation"):
        gram_matrix(f, "bogus")


def test_identical_frames_give_zero_and_terms_follow_weights(vgg, pair):
    pred, _ = pair
    zero = StyleLoss(vgg)(pred, pred.clone(), STYLE)
    assert float(zero.total) == 0.0 and float(zero.vgg) == 0.0 and float(zero.gram) == 0.0
    loss = StyleLoss(vgg)
    full = loss(*pair, LossWeights(1.0, 1.0, 1.0))
    only_l1 = loss(*pair, LossWeights(1.0, 0.0, 0.0))
    assert only_l1.vgg is None and only_l1.gram is None
    torch.testing.assert_close(only_l1.total, full.l1)
    stage1 = loss(*pair, LossWeights(1.0, 1.0, 0.0))
    assert stage1.gram is None
    torch.testing.assert_close(stage1.total, full.l1 + full.vgg)


def test_gradient_reaches_the_prediction_not_the_vgg(vgg, pair):
    pred, target = pair[0][:1], pair[1][:1]
    pred = pred.clone().requires_grad_(True)
    for definition in ("thesis", "afi"):
        pred.grad = None
        StyleLoss(vgg, definition=definition)(pred, target, STYLE).total.backward()
        assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in vgg.parameters())


def test_l1_only_needs_no_vgg(pair):
    loss = StyleLoss(None)
    assert float(loss(*pair, LossWeights(1.0, 0.0, 0.0)).total) > 0
    with pytest.raises(InputError, match="VGG-19"):
        loss(*pair, STYLE)


def test_bad_inputs(vgg, pair):
    loss = StyleLoss(vgg)
    pred, target = pair
    with pytest.raises(InputError, match="differ in shape"):
        loss(pred, target[:, :, :20], STYLE)
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        loss(pred[:, :1], target[:, :1], STYLE)
    with pytest.raises(InputError, match="float"):
        loss((pred * 255).to(torch.uint8), target, STYLE)
    with pytest.raises(InputError, match="definition"):
        StyleLoss(vgg, definition="film")
    with pytest.raises(InputError, match=">= 0"):
        LossWeights(1.0, -1.0, 0.0)
    with pytest.raises(InputError, match="at least one"):
        LossWeights(0.0, 0.0, 0.0)


def test_descending_each_vgg_term_lowers_it(vgg):
    """Adam on the image itself, with only the VGG or only the Gram weight: that term goes down."""
    from comfyui_animeinterp.core.data.synthetic import make_triplet

    def frame(seed):
        return torch.from_numpy(make_triplet(40, 48, seed=seed).frame1).permute(2, 0, 1)[None].float() / 255

    target, start_image = frame(1), frame(2)
    loss = StyleLoss(vgg)
    for weights, term in ((LossWeights(0.0, 1.0, 0.0), "vgg"), (LossWeights(0.0, 0.0, 1.0), "gram")):
        image = start_image.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=0.01)
        before = float(getattr(loss(image, target, weights), term))
        for _ in range(12):
            optimizer.zero_grad()
            loss(image, target, weights).total.backward()
            optimizer.step()
        after = float(getattr(loss(image.detach(), target, weights), term))
        assert after < 0.9 * before, (term, before, after)
