"""segment_frame: the original's label maps, bit for bit, on the fidelity fixture; sensible
segments on synthetic cartoons; clear errors on bad input."""
from __future__ import annotations

import numpy as np
import pytest
from comfyui_animeinterp.core.data.synthetic import _OUTLINE, make_triplet
from comfyui_animeinterp.core.errors import InputError
from comfyui_animeinterp.core.sgm.segment import PRESETS, LinePreset, segment_frame
from safetensors.numpy import load_file


@pytest.fixture(scope="module")
def sgm_fixture(fixtures_dir):
    return load_file(str(fixtures_dir / "sgm_synth_432x240_vggrule_seed0.safetensors"))


@pytest.mark.parametrize("frame", ["1", "3"])
def test_label_maps_equal_the_original(sgm_fixture, frame):
    rgb = np.ascontiguousarray(sgm_fixture[f"img{frame}_bgr"][:, :, ::-1])
    labels = segment_frame(rgb, "disney")  # the fixture folder name has no "Japan"
    assert labels.dtype == np.int32 and labels.shape == (240, 432)
    assert np.array_equal(labels, sgm_fixture[f"labelMap{frame}"])


def _valid_label_map(labels: np.ndarray, shape: tuple[int, int]) -> None:
    assert labels.dtype == np.int32 and labels.shape == shape
    counts = np.bincount(labels.ravel())
    assert (counts > 0).all(), "labels must be 0..L-1 without gaps"
    assert (np.diff(counts) >= 0).all(), "labels must be ordered by ascending size"


@pytest.mark.parametrize("seed", [0, 1])
def test_segments_recover_the_drawn_shapes(seed):
    t = make_triplet(240, 432, seed=seed)
    for frame, owner in ((t.frame1, t.owner1), (t.frame3, t.owner3)):
        labels = segment_frame(frame, "japan")
        _valid_label_map(labels, owner.shape)
        inside = ~(frame == np.array(_OUTLINE, np.uint8)).all(axis=2)  # the outlines are split
        chosen = set()
        for k in np.unique(owner):
            shape = (owner == k) & inside
            best = np.bincount(labels[shape]).argmax()
            segment = (labels == best) & inside
            assert (shape & segment).sum() / (shape | segment).sum() > 0.99
            chosen.add(best)
        assert len(chosen) == len(np.unique(owner))  # one segment per shape


@pytest.mark.parametrize("shape", [(8, 8), (8, 31), (23, 9), (50, 37)])
def test_any_size_from_8x8_gives_a_valid_label_map(shape):
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    noise = rng.integers(0, 256, shape + (3,), np.uint8)
    blocks = np.repeat(np.repeat(rng.integers(0, 256, (4, 4, 3), np.uint8), 20, 0), 20, 1)
    for frame in (noise, np.ascontiguousarray(blocks[: shape[0], : shape[1]])):
        for preset in PRESETS:
            _valid_label_map(segment_frame(frame, preset), shape)


def test_constant_frame_is_one_segment():
    for value in (0, 77, 255):
        with np.errstate(all="raise"):
            labels = segment_frame(np.full((12, 20, 3), value, np.uint8))
        assert (labels == 0).all()


def test_preset_by_object_and_timings():
    t = make_triplet(64, 96, seed=2)
    timings: dict[str, float] = {}
    by_name = segment_frame(t.frame1, "Disney", timings=timings)
    by_object = segment_frame(t.frame1, LinePreset("custom", (30, 40, 30), 1, 20))
    assert np.array_equal(by_name, by_object)
    expected = {"bilateral", "lines", "trapped_ball_r3", "trapped_ball_r2", "trapped_ball_r1",
                "flood_fill", "merge", "thinning", "relabel", "total"}
    assert set(timings) == expected and all(v >= 0 for v in timings.values())


@pytest.mark.parametrize("bad", [
    np.zeros((20, 20), np.uint8),
    np.zeros((20, 20, 4), np.uint8),
    np.zeros((20, 20, 3), np.float32),
    np.zeros((7, 20, 3), np.uint8),
    [[[0, 0, 0]]],
])
def test_bad_frames_are_refused(bad):
    with pytest.raises(InputError):
        segment_frame(bad)


def test_unknown_preset_is_refused():
    with pytest.raises(InputError, match="japan"):
        segment_frame(np.zeros((20, 20, 3), np.uint8), "anime")
