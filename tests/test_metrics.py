"""Metrics: PSNR/SSIM against known values and scikit-image, LPIPS against a hand-written reference,
the LPIPS weight converter round trip, and EPE."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from comfyui_animeinterp.core.errors import InputError, WeightsError
from comfyui_animeinterp.core.features.alexnet import ALEXNET_SHAPES, FEATURE_CHANNELS
from comfyui_animeinterp.core.metrics import end_point_error, psnr, ssim, ssim_gaussian
from comfyui_animeinterp.core.metrics.lpips import LPIPS, load_lpips, resolve_lpips
from comfyui_animeinterp.core.weights.lpips_convert import (
    convert_lpips_weights,
    detect_kinds,
    load_alexnet_weights,
    load_lpips_heads,
)

TV_INDEX = {1: 0, 2: 3, 3: 6, 4: 8, 5: 10}  # our conv<k> -> torchvision features.<i>


def fake_torchvision_alexnet(seed: int = 0) -> dict[str, torch.Tensor]:
    """torchvision ``alexnet().state_dict()`` key names; real shapes for ``features.*``. The
    ``classifier.*`` tensors (ignored by LPIPS) are tiny stand-ins to keep the test light."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k in range(1, 6):
        w_shape, b_shape = ALEXNET_SHAPES[f"conv{k}.weight"], ALEXNET_SHAPES[f"conv{k}.bias"]
        fan_in = math.prod(w_shape[1:])
        sd[f"features.{TV_INDEX[k]}.weight"] = (torch.rand(w_shape, generator=g) * 2 - 1) * (3 / fan_in) ** 0.5
        sd[f"features.{TV_INDEX[k]}.bias"] = (torch.rand(b_shape, generator=g) * 2 - 1) * 0.1
    for i in (1, 4, 6):
        sd[f"classifier.{i}.weight"] = torch.zeros(2, 2)
        sd[f"classifier.{i}.bias"] = torch.zeros(2)
    return sd


def fake_lpips_heads(seed: int = 1, dropout: bool = True) -> dict[str, torch.Tensor]:
    """The lpips package's ``weights/v0.1/alex.pth`` layout: non-negative (1, C, 1, 1) heads."""
    g = torch.Generator().manual_seed(seed)
    idx = 1 if dropout else 0
    return {f"lin{k}.model.{idx}.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(FEATURE_CHANNELS)}


def reference_lpips(x: torch.Tensor, y: torch.Tensor, tv: dict, heads: dict) -> torch.Tensor:
    """LPIPS v0.1 written out from its definition, on torchvision-layout weights."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def feats(img):
        h = (img * 2 - 1 - shift) / scale
        out = []
        h = F.relu(F.conv2d(h, tv["features.0.weight"], tv["features.0.bias"], stride=4, padding=2))
        out.append(h)
        h = F.max_pool2d(h, kernel_size=3, stride=2)
        h = F.relu(F.conv2d(h, tv["features.3.weight"], tv["features.3.bias"], padding=2))
        out.append(h)
        h = F.max_pool2d(h, kernel_size=3, stride=2)
        h = F.relu(F.conv2d(h, tv["features.6.weight"], tv["features.6.bias"], padding=1))
        out.append(h)
        h = F.relu(F.conv2d(h, tv["features.8.weight"], tv["features.8.bias"], padding=1))
        out.append(h)
        h = F.relu(F.conv2d(h, tv["features.10.weight"], tv["features.10.bias"], padding=1))
        out.append(h)
        return out

    total = 0
    for k, (a, b) in enumerate(zip(feats(x), feats(y))):
        a = a / (torch.sqrt((a ** 2).sum(1, keepdim=True)) + 1e-10)
        b = b / (torch.sqrt((b ** 2).sum(1, keepdim=True)) + 1e-10)
        total = total + F.conv2d((a - b) ** 2, heads[f"lin{k}.model.1.weight"]).mean(dim=(2, 3))
    return total.flatten()


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lpips")
    tv, heads = fake_torchvision_alexnet(), fake_lpips_heads()
    torch.save(tv, d / "alexnet-owt-fake.pth")
    torch.save(heads, d / "alex.pth", _use_new_zipfile_serialization=False)  # the original's legacy format
    return d / "alexnet-owt-fake.pth", d / "alex.pth", tv, heads


def _pair(seed=0, h=40, w=56):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 41, a.shape), 0, 255).astype(np.uint8)

    def to_t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None]

    return a, b, to_t(a), to_t(b)


# ------------------------------------------------------------------------------------------ PSNR / SSIM
def test_psnr_known_values():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.full((2, 3, 8, 8), 0.1)
    y[1] = 0.01
    assert torch.allclose(psnr(x, y), torch.tensor([20.0, 40.0], dtype=torch.float64))
    u8 = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    assert psnr(u8, u8 + 51).item() == pytest.approx(20 * math.log10(255 / 51))
    assert math.isinf(psnr(x, x)[0].item())


def test_ssim_of_flat_images_matches_the_formula():
    a = torch.full((1, 3, 16, 16), 0.2, dtype=torch.float64)
    b = torch.full((1, 3, 16, 16), 0.4, dtype=torch.float64)
    c1 = (0.01 * 2) ** 2  # data range 2: the AnimeInterp/AFI table convention
    assert ssim(a, b).item() == pytest.approx((2 * 0.2 * 0.4 + c1) / (0.2**2 + 0.4**2 + c1), abs=1e-12)
    assert ssim(a, a).item() == pytest.approx(1.0)


def test_ssim_equals_scikit_image_in_the_table_convention():
    from skimage.metrics import structural_similarity

    a, b, ta, tb = _pair()
    ref = structural_similarity(a.astype(np.float64) / 255, b.astype(np.float64) / 255, channel_axis=2,
                                data_range=2.0)  # what compare_ssim(float, float, multichannel=True) gave
    assert ssim(ta, tb).item() == pytest.approx(ref, abs=1e-9)


def test_gaussian_ssim_equals_scikit_image():
    from skimage.metrics import structural_similarity

    a, b, ta, tb = _pair(1)
    ref = structural_similarity(a.astype(np.float64) / 255, b.astype(np.float64) / 255, channel_axis=2,
                                data_range=1.0, gaussian_weights=True, use_sample_covariance=False)
    assert ssim_gaussian(ta, tb).item() == pytest.approx(ref, abs=1e-6)
    assert ssim_gaussian(ta, tb).item() != pytest.approx(ssim(ta, tb).item(), abs=1e-3)


def test_metrics_reject_bad_inputs():
    with pytest.raises(InputError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
    with pytest.raises(InputError, match="too small"):
        ssim(torch.zeros(1, 3, 5, 20), torch.zeros(1, 3, 5, 20))
    with pytest.raises(InputError, match="N, C, H, W"):
        psnr(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_end_point_error():
    zero = np.zeros((2, 4, 5), np.float32)
    shifted = zero.copy()
    shifted[0], shifted[1] = 3.0, 4.0
    assert end_point_error(shifted, zero) == pytest.approx(5.0)
    mask = np.zeros((4, 5), bool)
    mask[0, 0] = True
    shifted[:, 0, 0] = 0
    assert end_point_error(shifted, zero, mask) == 0.0
    assert math.isnan(end_point_error(shifted, zero, np.zeros((4, 5), bool)))


# ------------------------------------------------------------------------------------------ LPIPS
def test_lpips_matches_the_hand_written_reference(lpips_files):
    tv_path, heads_path, tv, heads = lpips_files
    model = load_lpips(tv_path, heads_path)
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 3, 64, 72, generator=g), torch.rand(2, 3, 64, 72, generator=g)
    with torch.no_grad():
        ours = model(x, y)
        ref = reference_lpips(x, y, tv, heads)
    assert ours.shape == (2,)
    assert torch.allclose(ours, ref, rtol=1e-5, atol=1e-7)
    assert (ours > 0).all()
    with torch.no_grad():
        assert torch.equal(model(x, x), torch.zeros(2))
        assert torch.allclose(model(x, y), model(y, x))


def test_lpips_rejects_tiny_frames(lpips_files):
    model = load_lpips(*lpips_files[:2])
    with pytest.raises(InputError, match="32x32"):
        model(torch.rand(1, 3, 16, 64), torch.rand(1, 3, 16, 64))


def test_converter_round_trip(lpips_files, tmp_path):
    tv_path, heads_path, tv, heads = lpips_files
    assert convert_lpips_weights(tv_path, tmp_path / "alexnet.safetensors") == "alexnet"
    assert convert_lpips_weights(heads_path, tmp_path / "lpips.safetensors") == "lpips-alex"
    assert not list(tmp_path.glob("*.tmp"))
    back = load_alexnet_weights(tmp_path / "alexnet.safetensors")
    for k in range(1, 6):
        assert torch.equal(back[f"conv{k}.weight"], tv[f"features.{TV_INDEX[k]}.weight"])
        assert torch.equal(back[f"conv{k}.bias"], tv[f"features.{TV_INDEX[k]}.bias"])
    back_heads = load_lpips_heads(tmp_path / "lpips.safetensors")
    assert all(torch.equal(back_heads[f"lin{k}.weight"], heads[f"lin{k}.model.1.weight"]) for k in range(5))
    x, y = torch.rand(1, 3, 48, 48), torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        a = load_lpips(tv_path, heads_path)(x, y)
        b = load_lpips(tmp_path / "alexnet.safetensors", tmp_path / "lpips.safetensors")(x, y)
    assert torch.equal(a, b)


def test_converter_reads_a_whole_lpips_state_dict(tmp_path):
    tv = fake_torchvision_alexnet(5)
    slices = {0: (1, 0), 3: (2, 3), 6: (3, 6), 8: (4, 8), 10: (5, 10)}
    whole = {"scaling_layer.shift": torch.zeros(1, 3, 1, 1), "scaling_layer.scale": torch.ones(1, 3, 1, 1)}
    for i, (s, j) in slices.items():
        for leaf in ("weight", "bias"):
            whole[f"net.slice{s}.{j}.{leaf}"] = tv[f"features.{i}.{leaf}"]
    for k, v in fake_lpips_heads(6, dropout=False).items():
        whole[k] = v
        whole[k.replace(f"lin{k[3]}", f"lins.{k[3]}")] = v
    torch.save(whole, tmp_path / "lpips_full.pth")
    assert detect_kinds(whole) == ["alexnet", "lpips-alex"]
    with pytest.raises(WeightsError, match="both"):
        convert_lpips_weights(tmp_path / "lpips_full.pth", tmp_path / "x.safetensors")
    convert_lpips_weights(tmp_path / "lpips_full.pth", tmp_path / "a.safetensors", kind="alexnet")
    assert torch.equal(load_alexnet_weights(tmp_path / "a.safetensors")["conv3.weight"], tv["features.6.weight"])


def test_converter_errors(lpips_files, tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_alexnet_weights(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a pickle")
    with pytest.raises(WeightsError, match="could not read"):
        load_lpips_heads(tmp_path / "junk.pth")
    bad = fake_torchvision_alexnet()
    bad["features.3.weight"] = torch.zeros(192, 64, 3, 3)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"conv2.weight has shape \(192, 64, 3, 3\)"):
        load_alexnet_weights(tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="missing tensors"):
        load_lpips_heads(lpips_files[0])  # an AlexNet file has no heads


def test_resolve_lpips_with_paths_and_without_weights(lpips_files, tmp_path, monkeypatch):
    model, note = resolve_lpips(*lpips_files[:2])
    assert isinstance(model, LPIPS) and "AlexNet" in note
    monkeypatch.setenv("ANIMEINTERP_CACHE", str(tmp_path / "empty_cache"))
    model, note = resolve_lpips(offline=True)
    assert model is None and "alexnet" in note
