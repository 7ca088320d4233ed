"""Weights and frames that would give silently wrong output are refused (issue 15, item 2)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.errors import ComputeError, InputError, WeightsError
from comfyui_animeinterp.core.features.vgg19 import load_vgg19
from comfyui_animeinterp.core.io.images import to_image, to_rgb_uint8
from comfyui_animeinterp.core.model import load_model
from comfyui_animeinterp.core.weights.finite import require_finite
from safetensors.torch import load_file, save_file

from tests.support.model_files import write_model_file


def test_a_model_file_with_nan_or_inf_is_refused_naming_the_tensor(tmp_path):
    path = write_model_file(tmp_path / "model.safetensors")
    state = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    key = sorted(state)[3]
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    state[key].view(-1)[1] = float("inf")
    bad = tmp_path / "diverged.safetensors"
    save_file(state, str(bad), metadata=meta)
    with pytest.raises(WeightsError, match=rf"{key} \(1 NaN, 1 inf\)"):
        load_model(bad)


def test_vgg_weights_with_nan_are_refused(tmp_path):
    path = tmp_path / "vgg.safetensors"
    save_file({"features.0.weight": torch.full((64, 3, 3, 3), float("nan"))}, str(path))
    with pytest.raises(WeightsError, match=r"features\.0\.weight \(1728 NaN, 0 inf\)"):
        load_vgg19(path)


def test_finite_state_and_integer_entries_pass():
    require_finite({"a": torch.ones(3), "n": torch.tensor(5), "b": torch.zeros(2, dtype=torch.float16)}, "x")


def test_many_bad_tensors_are_counted_not_all_listed():
    state = {f"t{i}": torch.tensor([float("inf")]) for i in range(8)}
    with pytest.raises(WeightsError, match="8 tensor.* and 3 more"):
        require_finite(state, "x")


def test_a_non_finite_frame_is_never_turned_into_an_image():
    t = torch.rand(1, 3, 16, 16)
    t[0, 1, 2, 3] = float("nan")
    with pytest.raises(ComputeError, match="NaN or infinite"):
        to_image(t)


@pytest.mark.parametrize("scale, lo, hi", [(255.0, 0.0, 255.0), (2.0, -1.0, 1.0)])
def test_float_frames_outside_0_1_are_refused_with_the_range_seen(scale, lo, hi):
    rng = np.random.default_rng(0)
    frame = rng.random((16, 16, 3), dtype=np.float32) * (hi - lo) + lo
    frame[0, 0] = (lo, hi, lo)
    with pytest.raises(InputError, match=rf"must be in \[0, 1\], got values in \[{lo:g}, {hi:g}\]"):
        to_rgb_uint8(frame, "frame 0")
    with pytest.raises(InputError, match="divide 0..255 floats by 255"):
        to_rgb_uint8(torch.from_numpy(frame), "frame 0")


def test_float_frames_with_a_slight_overshoot_are_clipped():
    frame = np.full((16, 16, 3), 0.5, np.float32)
    frame[0, 0] = (1.02, -0.01, 1.0)
    out = to_rgb_uint8(frame)
    assert tuple(out[0, 0]) == (255, 0, 255) and out[1, 1, 0] == 128


def test_the_python_api_refuses_0_255_floats():
    from comfyui_animeinterp.core.pipeline import Interpolator

    frame = np.full((64, 64, 3), 200.0, np.float32)
    with pytest.raises(InputError, match="float frames must be in"):
        Interpolator().interpolate(frame, frame)
