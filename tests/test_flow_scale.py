"""The flow net on shrunk frames (core.model.flow_scale): auto keeps 1080p and smaller exact, shrinks
larger frames to 1920x1088's pixel count; forced scales; flows come back at the picture's size with
their values scaled."""
from __future__ import annotations

import pytest
import torch
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import FlowPair, build_model
from comfyui_animeinterp.core.model.flow_scale import (
    AUTO_MAX_PIXELS,
    check_flow_scale,
    flow_scale_for,
    resize_flow,
    scaled_size,
    shrink_frames,
)


def test_auto_shrinks_only_frames_above_1080p_and_to_that_many_pixels():
    for h, w in ((540, 960), (1080, 1920), (1088, 1920), (64, 64)):
        assert flow_scale_for(h, w) == 1.0
    for h, w in ((2160, 3840), (1440, 2560), (4320, 7680), (1080, 2048), (1081, 1930)):
        size = scaled_size(h, w, flow_scale_for(h, w))
        assert size[0] * size[1] <= AUTO_MAX_PIXELS and size[0] * size[1] > 0.99 * AUTO_MAX_PIXELS
        assert abs(size[1] / size[0] - w / h) < 0.01  # the shape kept
    assert scaled_size(2160, 3840, flow_scale_for(2160, 3840)) == (1083, 1927)
    assert flow_scale_for(2160, 3840, 1) == 1.0 and flow_scale_for(540, 960, "0.25") == 0.25
    assert scaled_size(540, 960, 0.5) == (270, 480)


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, "2", "fast", True, None])
def test_bad_flow_scales_are_refused(bad):
    with pytest.raises(InputError, match="flow scale"):
        check_flow_scale(bad)
    with pytest.raises(InputError, match="flow scale"):
        build_model("afi", flow_scale=bad)


def test_resized_flows_keep_their_meaning_in_pixels():
    flow = torch.zeros(1, 2, 10, 20)
    flow[:, 0], flow[:, 1] = 4.0, -2.0
    small = resize_flow(flow, (5, 10), "nearest")
    assert torch.allclose(small[:, 0], torch.tensor(2.0)) and torch.allclose(small[:, 1], torch.tensor(-1.0))
    large = resize_flow(flow, (20, 40))
    assert large.shape == (1, 2, 20, 40)
    assert torch.allclose(large[:, 0], torch.tensor(8.0)) and torch.allclose(large[:, 1], torch.tensor(-4.0))
    fine = torch.full((1, 2, 10, 20), 300.125)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):  # bf16 would round 600.25 to 600
        assert resize_flow(fine, (20, 40)).dtype == torch.float32
        assert torch.allclose(resize_flow(fine, (20, 40)), torch.tensor(600.25))
        assert torch.allclose(resize_flow(fine.bfloat16(), (20, 40)), torch.tensor(600.0))  # its own rounding only


@torch.inference_mode()
def test_auto_is_the_flow_net_itself_at_small_sizes_and_a_forced_scale_shrinks_frames_and_inits():
    torch.manual_seed(0)
    model = build_model("afi").eval()
    a, b = torch.rand(1, 3, 96, 128), torch.rand(1, 3, 96, 128)
    init = torch.zeros(1, 2, 96, 128)
    init[:, 0], init[:, 1] = 6.0, -2.0
    auto = model.estimate(a, b, init, -init)
    exact = model.flow_net.bidirectional(a * 2 - 1, b * 2 - 1, init, -init)
    assert torch.equal(auto.flow12, exact.flow12) and torch.equal(auto.flow21, exact.flow21)

    model.flow_scale = check_flow_scale("0.5")
    halved = model.estimate(a, b, init, -init)
    small_init = torch.zeros(1, 2, 48, 64)
    small_init[:, 0], small_init[:, 1] = 3.0, -1.0
    small = model.flow_net.bidirectional(shrink_frames(a, (48, 64)) * 2 - 1, shrink_frames(b, (48, 64)) * 2 - 1,
                                         small_init, -small_init)
    assert halved.flow12.shape == (1, 2, 96, 128) and halved.frame1.shape[-2:] == (96, 128)
    assert torch.allclose(halved.flow12, resize_flow(small.flow12, (96, 128)), atol=1e-5)
    assert torch.allclose(halved.flow21, resize_flow(small.flow21, (96, 128)), atol=1e-5)
    assert not torch.allclose(halved.flow12, auto.flow12, atol=1e-3)  # it did run on other frames


def test_auto_runs_the_flow_net_of_a_4k_pair_at_about_1080p(monkeypatch):
    model = build_model("afi").eval()
    seen = []

    def fake_bidirectional(image1, image2, init12=None, init21=None, encoded=None):
        assert encoded is None  # the frames are encoded by the flow net itself here
        seen.append((tuple(image1.shape[-2:]), None if init12 is None else float(init12[0, 0].mean())))
        flow = torch.ones(1, 2, *image1.shape[-2:])
        return FlowPair(flow, -flow, None, None)

    monkeypatch.setattr(model.flow_net, "bidirectional", fake_bidirectional)
    frames = torch.zeros(2, 1, 3, 2160, 3840)
    init = torch.full((1, 2, 2160, 3840), 10.0)
    flows = model.flow_pair(frames[0], frames[1], init, init)
    assert seen == [((1083, 1927), pytest.approx(10.0 * 1927 / 3840))]
    assert flows.flow12.shape == (1, 2, 2160, 3840)
    assert torch.allclose(flows.flow12[:, 0], torch.tensor(3840 / 1927))
    assert torch.allclose(flows.flow12[:, 1], torch.tensor(2160 / 1083))
