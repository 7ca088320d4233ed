"""Line extraction: bit-identical to the original arithmetic (skimage hysteresis included)."""
from __future__ import annotations

import numpy as np
import pytest
from comfyui_animeinterp.core.data.synthetic import make_triplet
from comfyui_animeinterp.core.sgm.segment import PRESETS, extract_lines
from comfyui_animeinterp.core.sgm.segment.hysteresis import hysteresis_mask
from comfyui_animeinterp.core.sgm.segment.lines import LINE_STRENGTH, boundary_value
from comfyui_animeinterp.core.sgm.segment.presets import LINE_SCALE, REGION_THRESHOLD
from skimage.filters import apply_hysteresis_threshold

from tests.support.segment_reference import lines_reference


def test_published_line_parameters_are_pinned():
    assert PRESETS["japan"].bilateral == (10, 10, 10)
    assert (PRESETS["japan"].low, PRESETS["japan"].high) == (2, 20)
    assert PRESETS["disney"].bilateral == (30, 40, 30)
    assert (PRESETS["disney"].low, PRESETS["disney"].high) == (1, 20)
    assert (LINE_SCALE, REGION_THRESHOLD) == (20, 220)


def test_line_strength_threshold_equals_the_original_formula():
    assert 1.69 < LINE_STRENGTH < 1.71
    below = np.nextafter(LINE_STRENGTH, np.float32(0))
    assert boundary_value(LINE_STRENGTH) <= REGION_THRESHOLD < boundary_value(below)
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.uniform(-5, 300, 100_000), rng.uniform(1.6, 1.8, 100_000)]).astype(np.float32)
    v = np.concatenate([v, [0, 1.7, 255, 1e9, -1e9]]).astype(np.float32)
    assert np.array_equal(v >= LINE_STRENGTH, boundary_value(v) <= REGION_THRESHOLD)


@pytest.mark.parametrize("shape", [(17, 23, 3), (40, 31, 3), (9, 12, 1), (25, 20, 2), (64, 64, 4)])
def test_hysteresis_equals_skimage(shape):
    rng = np.random.default_rng(sum(shape))
    for low, high in ((0.4, 0.9), (0.7, 0.95), (0.9, 0.5)):  # the last: low above high is clipped
        smooth = rng.random(shape).astype(np.float32)
        expected = apply_hysteresis_threshold(smooth, low, high)
        assert expected.any() and not expected.all()
        assert np.array_equal(hysteresis_mask(smooth, low, high), expected)


def _frames():
    rng = np.random.default_rng(1)
    t = make_triplet(72, 96, seed=3)
    noisy = np.clip(t.frame1.astype(int) + rng.integers(-12, 13, t.frame1.shape), 0, 255).astype(np.uint8)
    blocks = np.kron(rng.integers(0, 256, (6, 5, 3)), np.ones((7, 9, 1))).astype(np.uint8)
    return [t.frame1[:, :, ::-1].copy(), noisy, blocks, rng.integers(0, 256, (13, 11, 3), np.uint8)]


@pytest.mark.parametrize("preset", ["japan", "disney"])
def test_lines_equal_the_reference(preset):
    p = PRESETS[preset]
    for bgr in _frames():
        expected = lines_reference(bgr, p.low, p.high, p.bilateral)
        assert 0 < np.count_nonzero(expected == 0) < expected.size
        assert np.array_equal(extract_lines(bgr, p), expected)


def test_constant_frame_has_no_lines():
    for value in (0, 128, 255):
        frame = np.full((20, 30, 3), value, np.uint8)
        with np.errstate(all="raise"):
            binary = extract_lines(frame, PRESETS["japan"])
        assert (binary == 255).all()
