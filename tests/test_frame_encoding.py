"""A frame's flow-net encoding is reusable: a clip's interior frame, in two pairs, is encoded once,
and the pairs come out bit for bit as if each had encoded both its frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.model import build_model
from comfyui_animeinterp.core.pipeline import Interpolator
from comfyui_animeinterp.core.sgm.run import SGMOptions


def _model(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("afi", **kwargs).eval()
    with torch.no_grad():
        model.flow_net.update.aggregator.gamma.fill_(0.5)  # GMA live
    return model


def _same_state(a, b) -> bool:
    return (torch.equal(a.flow12, b.flow12) and torch.equal(a.flow21, b.flow21)
            and all(torch.equal(x, y) for x, y in zip(a.features1 + a.features2, b.features1 + b.features2)))


@pytest.mark.parametrize("size, flow_scale", [((128, 160), "auto"), ((136, 168), 0.5), ((40, 56), "auto")],
                         ids=["plain", "shrunk for the flow net", "padded below 128 px"])
def test_an_estimate_from_encodings_is_the_estimate(size, flow_scale):
    model = _model(flow_scale=flow_scale)
    g = torch.Generator().manual_seed(1)
    frame1, frame2 = torch.rand(1, 3, *size, generator=g), torch.rand(1, 3, *size, generator=g)
    init = 2 * torch.randn(1, 2, *size, generator=g)
    whole = model.estimate(frame1, frame2, init, -init)
    encoded = (model.encode_frame(frame1), model.encode_frame(frame2))
    assert _same_state(model.estimate(frame1, frame2, init, -init, encoded=encoded), whole)
    assert encoded[0].features.shape[1] == 256


def test_an_encoding_is_refused_for_another_frame_size_or_changed_weights():
    model = _model()
    frame = torch.rand(1, 3, 128, 160)
    encoding = model.encode_frame(frame)
    other = torch.rand(1, 3, 136, 160)
    with pytest.raises(InputError, match="frame1 encoding is of a"):
        model.estimate(other, other, encoded=(encoding, model.encode_frame(other)))
    with pytest.raises(InputError, match="FrameEncoding"):
        model.estimate(frame, frame, encoded=(encoding.features, encoding.features))
    with torch.no_grad():
        model.flow_net.encoder.stem.weight.mul_(1.01)  # e.g. another checkpoint loaded in place
    with pytest.raises(InputError, match="other weights"):
        model.estimate(frame, frame, encoded=(encoding, encoding))
    reloaded = model.encode_frame(frame)
    model.load_state_dict(model.state_dict())  # a checkpoint loaded in place
    with pytest.raises(InputError, match="other weights"):
        model.estimate(frame, frame, encoded=(reloaded, reloaded))
    assert model.encode_frame(frame).key == model.encode_frame(frame).key
    assert _model().encoding_key() != _model().encoding_key()  # two models never share encodings
    before = model.encoding_key()
    model.autocast_dtype = torch.bfloat16
    assert model.encoding_key() != before


def test_a_clip_walked_pair_by_pair_encodes_each_frame_once_with_the_same_flows(monkeypatch):
    frames = make_clip(3, 128, 160, seed=5)
    model = _model()
    encoded = []
    real = model.flow_net.encode
    monkeypatch.setattr(model.flow_net, "encode", lambda image: encoded.append(1) or real(image))
    interp = Interpolator(model, sgm=SGMOptions(features="colour"))
    pairs = [interp.prepare(frames[k], frames[k + 1]) for k in range(2)]
    assert len(encoded) == 3 and (interp.encoding_memo.misses, interp.encoding_memo.hits) == (3, 1)

    fresh = Interpolator(model, sgm=SGMOptions(features="colour")).prepare(frames[1], frames[2])
    assert np.array_equal(pairs[1].flows.flow_13, fresh.flows.flow_13)
    assert np.array_equal(pairs[1].flows.flow_31, fresh.flows.flow_31)
    assert _same_state(pairs[1].state, fresh.state)


def test_a_model_built_in_inference_mode_encodes_too_and_notices_a_loaded_checkpoint():
    """ComfyUI loads models in inference mode: their parameters carry no version counter."""
    with torch.inference_mode():
        model = _model()
        frame = torch.rand(1, 3, 128, 160)
        encoding = model.encode_frame(frame)
        state = model.estimate(frame, frame, encoded=(encoding, encoding))
        assert _same_state(state, model.estimate(frame, frame))
        model.flow_net.encoder.load_state_dict(model.flow_net.encoder.state_dict())
        with pytest.raises(InputError, match="other weights"):
            model.estimate(frame, frame, encoded=(encoding, encoding))



@pytest.mark.parametrize("bad, message", [(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float values"),
                                          (torch.full((1, 3, 64, 64), float("nan")), "NaN"),
                                          (torch.zeros(3, 64, 64), r"\(N, 3, H, W\)")])
def test_a_bad_frame_gets_the_estimates_clear_error(bad, message):
    with pytest.raises(InputError, match=f"frame: .*{message}"):
        _model().encode_frame(bad)
