"""Scene cuts when retiming: stricter than for triplet mining, and never for two explicit images."""
from __future__ import annotations

import itertools

import numpy as np
from comfyui_animeinterp.core.cli import main
from comfyui_animeinterp.core.clip.drawings import SequenceOptions, is_scene_cut, signature
from comfyui_animeinterp.core.clip.retime import RetimeOptions
from comfyui_animeinterp.core.data.synthetic import make_clip, random_scene
from comfyui_animeinterp.core.io import video
from comfyui_animeinterp.core.io.video import list_images, read_image


def test_retiming_uses_the_stricter_cut_thresholds():
    strict = SequenceOptions.for_interpolation()
    assert RetimeOptions().sequence == strict
    assert strict.cut_unexplained > SequenceOptions().cut_unexplained
    assert strict.cut_min_difference > SequenceOptions().cut_min_difference


def test_stricter_thresholds_still_find_real_cuts_of_a_clip():
    frames = make_clip(4, 144, 256, seed=3, cut_after=2)
    sigs = [signature(f) for f in frames]
    strict = SequenceOptions.for_interpolation()
    cuts = [is_scene_cut(a, b, strict) for a, b in itertools.pairwise(sigs)]
    assert cuts == [False, True, False]


def test_large_motion_is_a_cut_only_for_triplet_mining():
    """Shapes moving by a quarter of the width: the mining test calls it a cut, retiming does not."""
    scene = random_scene(144, 256, seed=8, n_shapes=3, max_shift=60, max_rotation=30)
    a, b = signature(scene.frame(0.0)), signature(scene.frame(1.0))
    assert is_scene_cut(a, b, SequenceOptions())
    assert not is_scene_cut(a, b, SequenceOptions.for_interpolation())


def test_two_images_are_interpolated_even_when_they_look_like_a_cut(tmp_path):
    first = random_scene(72, 96, seed=1).frame(0.0)
    second = random_scene(72, 96, seed=500).frame(1.0)  # another scene altogether
    assert is_scene_cut(signature(first), signature(second), SequenceOptions.for_interpolation())
    video.write_image(tmp_path / "a.png", first)
    video.write_image(tmp_path / "b.png", second)
    assert main(["interpolate", str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "out"),
                 "--weight-free", "--quiet"]) == 0
    middle = read_image(list_images(tmp_path / "out")[1])
    assert not np.array_equal(middle, first) and not np.array_equal(middle, second)
