"""Model nodes: loader (list, cache, release), Refine Flow and Splat Synthesize, learned and weight-free."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import InputError, WeightsError
from comfyui_animeinterp.core.io.images import to_image
from comfyui_animeinterp.core.model import LearnedInterpolator, load_model
from comfyui_animeinterp.core.sgm.coarse_flow import CoarseFlow
from comfyui_animeinterp.core.weightfree.refine import refine_dis
from comfyui_animeinterp.nodes.model_nodes import (
    DEFAULT_WEIGHTS,
    AnimeInterpRefineFlow,
    AnimeInterpReleaseModels,
    AnimeInterpSplatSynthesize,
    LoadAnimeInterpModel,
    weight_choices,
)
from comfyui_animeinterp.nodes.sgm_nodes import AnimeInterpCoarseFlow, AnimeInterpMatch, AnimeInterpSegment

from tests.support.model_files import write_model_file


def _images(frames):
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def _u8(batch):
    return (batch * 255.0).round().to(torch.uint8).numpy()


def _coarse(images):
    seg, _ = AnimeInterpSegment().run(images, "japan", "auto")
    matches, _ = AnimeInterpMatch().run(seg, "colour")
    flow, _ = AnimeInterpCoarseFlow().run(matches)
    return flow


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    return write_model_file(tmp_path_factory.mktemp("weights") / "tiny-afi.safetensors")


@pytest.fixture(scope="module")
def clip():
    frames = make_clip(3, 72, 96, seed=3, max_shift=6)
    return frames, _images(frames)


@pytest.fixture(scope="module")
def clip_flow(clip):
    return _coarse(clip[1])


def test_loader_lists_loads_caches_and_releases(fake_comfy, model_file):
    folder = fake_comfy.models_dir / "animeinterp"
    (folder / "tiny-afi.safetensors").symlink_to(model_file)
    (folder / "vgg19.safetensors").write_bytes(b"not a model")  # another manifest entry's file: not listed
    choices = weight_choices()
    assert choices[0] == DEFAULT_WEIGHTS and "animeinterp-full" in choices
    assert "tiny-afi.safetensors" in choices and "vgg19.safetensors" not in choices and "vgg19" not in choices
    assert LoadAnimeInterpModel.INPUT_TYPES()["required"]["weights"][0] == choices

    loader = LoadAnimeInterpModel()
    (model,) = loader.load("tiny-afi.safetensors", "auto", "auto", "fp32")
    assert isinstance(model, LearnedInterpolator) and model.variant == "afi" and not model.training
    assert model.animeinterp_source.endswith("tiny-afi.safetensors")
    assert loader.load("tiny-afi.safetensors", "afi", "cpu", "fp32")[0] is model  # cached between runs
    assert loader.load("tiny-afi.safetensors", "auto", "auto", "bf16")[0].autocast_dtype == torch.bfloat16
    assert loader.load("tiny-afi.safetensors", "auto", "auto", "fp16")[0].autocast_dtype is None  # CPU: fp32
    with pytest.raises(WeightsError, match="'afi' model"):
        loader.load("tiny-afi.safetensors", "animeinterp", "auto", "fp32")

    before = LoadAnimeInterpModel.IS_CHANGED(weights="tiny-afi.safetensors")
    passthrough = torch.zeros(1, 8, 8, 3)
    assert AnimeInterpReleaseModels().run(passthrough)[0] is passthrough
    assert LoadAnimeInterpModel.IS_CHANGED(weights="tiny-afi.safetensors") != before  # ComfyUI reloads
    assert loader.load("tiny-afi.safetensors", "auto", "auto", "fp32")[0] is not model


def test_loader_validation(fake_comfy):
    v = LoadAnimeInterpModel.check_inputs
    assert v(DEFAULT_WEIGHTS, "auto", "auto", "fp32") is True
    assert v(weights=None) is True  # a linked input is not known at validation time
    assert "neither" in v("missing.safetensors", "auto", "auto", "fp32")
    assert v(DEFAULT_WEIGHTS, "rife", "auto", "fp32") is not True
    assert "CUDA" in v(DEFAULT_WEIGHTS, "auto", "cpu", "fp16")
    assert v(DEFAULT_WEIGHTS, "auto", "cpu", "bf16") is True  # bf16 autocast runs on the CPU too
    if not torch.cuda.is_available():
        assert v(DEFAULT_WEIGHTS, "auto", "cuda", "fp32") is not True


def test_weight_free_refine_matches_dis(clip, clip_flow):
    frames, images = clip
    refined, preview = AnimeInterpRefineFlow().run(images, clip_flow)
    assert refined.kind == "refined" and len(refined.pairs) == 2
    assert preview.shape == (2, 72, 192, 3)
    seed = clip_flow.pairs[1]
    expected = refine_dis(frames[1], frames[2], CoarseFlow(seed.flow_13, seed.flow_31, *clip_flow.valid[1]),
                          clip_flow.labels[1])  # one flow per drawn piece, as in the one-call pipeline
    np.testing.assert_array_equal(refined.pairs[1].flow_13, expected.flow_13)
    np.testing.assert_array_equal(refined.pairs[1].flow_31, expected.flow_31)
    assert not np.array_equal(refined.pairs[1].flow_13, clip_flow.pairs[1].flow_13)


def test_weight_free_synthesis_keeps_originals_in_place(clip, clip_flow):
    frames, images = clip
    (out,) = AnimeInterpSplatSynthesize().run(images, clip_flow, 3)
    assert out.shape == (3 + 2 * 2, 72, 96, 3) and out.dtype == torch.float32
    u8 = _u8(out)
    for k, index in enumerate([0, 3, 6]):
        np.testing.assert_array_equal(u8[index], frames[k])
    for index in (1, 2, 4, 5):
        assert not any(np.array_equal(u8[index], f) for f in frames)
    (two,) = AnimeInterpSplatSynthesize().run(images, clip_flow, 3, times="0.25, 0.75")
    assert two.shape[0] == 3 + 2 * 2
    (one,) = AnimeInterpSplatSynthesize().run(images, clip_flow, 3, times="0.5")
    assert one.shape[0] == 3 + 2
    (by_multiplier,) = AnimeInterpSplatSynthesize().run(images, clip_flow, 2)
    np.testing.assert_array_equal(_u8(one)[1], _u8(by_multiplier)[1])


def test_learned_refine_and_synthesize_use_the_model(model_file):
    model = load_model(model_file)
    frames = make_clip(2, 64, 64, seed=5, max_shift=4)
    images = _images(frames)
    coarse = _coarse(images)
    states = []
    estimate = model.estimate

    def spy(*args, **kwargs):
        states.append(estimate(*args, **kwargs))
        return states[-1]

    model.estimate = spy
    refined, _ = AnimeInterpRefineFlow().run(images, coarse, model)
    (state,) = states
    assert refined.pairs[0].source == "afi"
    np.testing.assert_array_equal(refined.pairs[0].flow_13, state.flow12[0].numpy())
    (out,) = AnimeInterpSplatSynthesize().run(images, refined, 2, model=model)
    assert out.shape == (3, 64, 64, 3) and len(states) == 1  # synthesis reuses the given flows
    np.testing.assert_array_equal(_u8(out)[1], to_image(model.synthesize(state, 0.5)))


def test_progress_cancel_and_errors(clip, clip_flow, fake_comfy):
    _frames, images = clip
    AnimeInterpSplatSynthesize().run(images, clip_flow, 2)
    assert (2, 2) in fake_comfy.progress
    fake_comfy.cancel_now()
    with pytest.raises(Exception) as exc:
        AnimeInterpSplatSynthesize().run(images, clip_flow, 2)
    assert type(exc.value).__name__ == "InterruptProcessingException"
    fake_comfy.interrupt_after = None

    with pytest.raises(InputError, match="flow pairs"):
        AnimeInterpSplatSynthesize().run(images[:2], clip_flow, 2)
    with pytest.raises(InputError, match="96x72"):
        AnimeInterpRefineFlow().run(torch.nn.functional.pad(images, (0, 0, 0, 8)), clip_flow)
    with pytest.raises(InputError, match="ANIMEINTERP_MODEL"):
        AnimeInterpRefineFlow().run(images, clip_flow, "not a model")
    with pytest.raises(InputError, match="Coarse Flow"):
        AnimeInterpSplatSynthesize().run(images, "flow", 2)
    v = AnimeInterpSplatSynthesize.check_inputs
    assert v(2, "") is True and v(2, "0.2, 0.4") is True and v(None, None) is True
    assert v(2, "0.5, 1.5") is not True and v(2, "a") is not True and v(1, "") is not True


def test_loaded_model_follows_comfyuis_free_memory(fake_comfy):
    """Inside ComfyUI the flow net's memory budget is half of what model management reports free."""
    import torch
    from comfyui_animeinterp.nodes import model_cache

    from tests.support.model_files import write_model_file

    path = fake_comfy.models_dir / "animeinterp" / "m.safetensors"
    write_model_file(path)
    model = model_cache.load_interpolator(str(path), torch.device("cpu"), torch.float32)
    fake_comfy.free_bytes = 8 << 30
    assert model.flow_net.memory.budget_bytes(torch.device("cpu")) == 4 << 30
    fake_comfy.free_bytes = 2 << 30
    assert model.flow_net.memory.budget_bytes(torch.device("cpu")) == 1 << 30


def test_loader_flow_scale_is_a_cached_setting(fake_comfy):
    import torch
    from comfyui_animeinterp.nodes import model_cache
    from comfyui_animeinterp.nodes.model_nodes import FLOW_SCALE_CHOICES, LoadAnimeInterpModel

    from tests.support.model_files import write_model_file

    path = fake_comfy.models_dir / "animeinterp" / "m.safetensors"
    write_model_file(path)
    assert LoadAnimeInterpModel.INPUT_TYPES()["optional"]["flow_scale"][0] == FLOW_SCALE_CHOICES
    auto = model_cache.load_interpolator(str(path), torch.device("cpu"), torch.float32)
    half = model_cache.load_interpolator(str(path), torch.device("cpu"), torch.float32, "0.5")
    assert auto.flow_scale == "auto" and half.flow_scale == 0.5 and auto is not half
    assert model_cache.load_interpolator(str(path), torch.device("cpu"), torch.float32, "auto") is auto
