"""Synthetic cartoons: the line-art style and eased spacing leave the default scenes unchanged."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
from comfyui_animeinterp.core.data.synthetic import make_triplet, random_scene
from comfyui_animeinterp.core.errors import InputError

H, W = 54, 96


def _digest(t) -> str:
    h = hashlib.sha256()
    for a in (t.frame1, t.frame2, t.frame3, t.flow_13, t.flow_31):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_default_scene_is_unchanged():
    # digest of make_triplet(54, 96, seed=3) before the style / timing options existed
    assert _digest(make_triplet(H, W, seed=3)) == "ca070997708289da13bf2e25a85577b14188cafea501752ce8b987fd1fa9b7da"
    assert _digest(make_triplet(H, W, seed=3, style="flat", timing_jitter=0.0)) == _digest(make_triplet(H, W, seed=3))


def test_lineart_style_changes_colours_only():
    flat, line = make_triplet(H, W, seed=4), make_triplet(H, W, seed=4, style="lineart")
    assert np.array_equal(flat.owner1, line.owner1) and np.array_equal(flat.flow_13, line.flow_13)
    colours = {tuple(c) for c in line.frame1.reshape(-1, 3)}
    assert colours == {(255, 255, 255), tuple(random_scene(H, W, seed=4).line_colour)}


def test_timing_jitter_moves_only_the_middle_frame():
    even, eased = make_triplet(240, 432, seed=2), make_triplet(240, 432, seed=2, timing_jitter=0.12)
    for name in ("frame1", "frame3", "flow_13", "flow_31"):
        assert np.array_equal(getattr(even, name), getattr(eased, name))
    assert not np.array_equal(even.frame2, eased.frame2)
    timings = [s.timing for s in eased.scene.shapes]
    assert all(-0.12 <= x <= 0.12 for x in timings) and len(set(timings)) == len(timings)
    assert _digest(eased) == _digest(make_triplet(240, 432, seed=2, timing_jitter=0.12))  # deterministic


def test_unknown_style_is_an_input_error():
    with pytest.raises(InputError, match="style"):
        random_scene(H, W, seed=0, style="watercolour")
