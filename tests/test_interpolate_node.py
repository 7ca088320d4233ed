"""The one-click AnimeInterpolate node: counts, originals in place, held drawings, cuts, progress."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from comfyui_animeinterp.core.data.synthetic import make_clip, random_scene
from comfyui_animeinterp.nodes.interpolate_node import AnimeInterpolate

H, W = 72, 128


def _images(frames):
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def _u8(batch):
    return (batch * 255.0).round().to(torch.uint8).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def _run(images, **options):
    options.setdefault("matching", "colour")
    return AnimeInterpolate().run(images, **options)


@pytest.fixture(scope="module")
def twos_with_cut():
    """A A B B C C | D D: four drawings on twos, a scene cut before D."""
    frames = make_clip(4, H, W, seed=7, hold=2, cut_after=3, max_shift=8)
    return frames, _images(frames)


def test_twos_with_a_cut(twos_with_cut):
    frames, images = twos_with_cut
    out, fps = _run(images, multiplier=2, source_fps=24.0)
    assert out.shape == ((8 - 1) * 2 + 1, H, W, 3) and fps == 48.0
    u8 = _u8(out)
    a, b, c, d = frames[0], frames[2], frames[4], frames[6]
    for index, drawing in ((0, a), (4, b), (8, c), (12, d)):  # drawings at their own times
        np.testing.assert_array_equal(u8[index], drawing)
    for index in (9, 10, 11):  # C is followed by a cut: repeated, not blended with D
        np.testing.assert_array_equal(u8[index], c)
    for index in (13, 14):  # D ends the clip
        np.testing.assert_array_equal(u8[index], d)
    for index in (1, 2, 3, 5, 6, 7):  # between distinct drawings, also at the held copies' times
        assert not any(np.array_equal(u8[index], f) for f in (a, b, c, d))


def test_inbetweens_move_towards_the_true_motion():
    scene = random_scene(H, W, 11, max_shift=8)
    frames = [scene.frame(0.0)] * 2 + [scene.frame(1.0)] * 2  # A A B B
    out, _ = _run(_images(frames), multiplier=2)
    u8 = _u8(out)  # times 0, .5, 1, 1.5, 2, ...: tau = 1 is halfway from A to B
    for index, t in ((1, 0.25), (2, 0.5), (3, 0.75)):
        truth = scene.frame(t)
        assert psnr(u8[index], truth) > max(psnr(frames[0], truth), psnr(frames[2], truth)) + 3.0


def test_counts_for_fps_and_schedule(twos_with_cut):
    _, images = twos_with_cut
    five = images[:5]
    out, fps = _run(five, mode="target fps", source_fps=24.0, target_fps=60.0)
    assert out.shape[0] == 11 and fps == 60.0  # floor(4 * 60 / 24) + 1
    out, fps = _run(five, schedule="1, 2")
    assert out.shape[0] == 5 + (1 + 2 + 1 + 2) and fps == pytest.approx(24.0 * 10 / 4)
    out, _ = _run(five, multiplier=3, held_drawings=False, scene_cuts=False)
    assert out.shape[0] == 4 * 3 + 1


def test_held_drawing_detection_can_be_switched_off(twos_with_cut):
    frames, images = twos_with_cut
    held, _ = _run(images[:4], multiplier=2)
    plain, _ = _run(images[:4], multiplier=2, held_drawings=False)
    a = frames[0].astype(int)
    # tau = 0.5: a quarter of the way from A to B with detection; between A and its copy without
    assert np.abs(_u8(plain)[1].astype(int) - a).mean() < 1.0
    assert np.abs(_u8(held)[1].astype(int) - a).mean() > 2.0


def test_progress_and_cancel(twos_with_cut, fake_comfy):
    _, images = twos_with_cut
    _run(images[:3], multiplier=2)
    assert fake_comfy.progress[-1] == (5, 5)
    fake_comfy.cancel_now()
    with pytest.raises(Exception) as exc:
        _run(images[:3], multiplier=2)
    assert type(exc.value).__name__ == "InterruptProcessingException"


def test_single_frame_and_bad_inputs(twos_with_cut):
    _, images = twos_with_cut
    from comfyui_animeinterp.core.errors import InputError

    with pytest.raises(InputError, match="nothing to interpolate: the batch holds one frame"):  # issue 15.6
        _run(images[:1], multiplier=4)
    below = AnimeInterpolate.check_inputs(mode="target fps", source_fps=24.0, target_fps=12.0)
    assert "target_fps 12 is below source_fps 24: that would drop frames" in below
    with pytest.raises(InputError, match="would drop frames"):
        _run(images, mode="target fps", source_fps=24.0, target_fps=12.0)
    v = AnimeInterpolate.check_inputs
    assert v("multiplier", 2, 24.0, 60.0, "", "vgg", "japan", "auto") is True
    assert v(mode=None, multiplier=None) is True
    assert v(mode="speed") is not True and v(multiplier=1) is not True and v(matching="sift") is not True
    assert v(mode="target fps", source_fps=24.0, target_fps=0.0) is not True
    assert v(schedule="1, two") is not True and v(source_fps=0.0) is not True
    from comfyui_animeinterp.core.errors import InputError

    with pytest.raises(InputError):
        _run(images, mode="target fps", source_fps=24.0, target_fps=-1.0)
    with pytest.raises(InputError, match="IMAGE batch"):
        _run(images[0], multiplier=2)


def test_two_frames_are_interpolated_even_across_a_detected_cut():
    a = random_scene(72, 96, seed=1).frame(0.0)
    b = random_scene(72, 96, seed=500).frame(1.0)
    images = torch.from_numpy(np.stack([a, b])).float() / 255
    out, _ = AnimeInterpolate().run(images, matching="colour", multiplier=2)
    middle = (out[1] * 255).round().to(torch.uint8).numpy()
    assert out.shape[0] == 3
    assert not np.array_equal(middle, a) and not np.array_equal(middle, b)


def test_auto_matching_needs_no_file_without_a_model(fake_comfy, twos_with_cut):
    from comfyui_animeinterp.nodes.interpolate_node import resolve_matching

    from tests.support.model_files import write_vgg_file

    assert AnimeInterpolate.INPUT_TYPES()["required"]["matching"][1]["default"] == "auto"
    assert resolve_matching("auto", None, "vgg19") == "colour"  # fresh install: nothing on disk
    assert resolve_matching("auto", object(), "vgg19") == "vgg"  # the learned path keeps VGG-19
    assert resolve_matching("colour", object(), "vgg19") == "colour"
    _, images = twos_with_cut
    out, _ = AnimeInterpolate().run(images[:2], matching="auto")  # runs offline, with no files
    assert out.shape[0] == 3
    write_vgg_file(fake_comfy.models_dir / "animeinterp" / "vgg19.safetensors")
    assert resolve_matching("auto", None, "vgg19") == "vgg"  # already on disk: the published method
