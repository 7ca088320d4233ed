"""``core.clip.shard``: spans as retime plans them, contiguous balanced ranges, ranges render the single run's frames."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from comfyui_animeinterp.core.clip.retime import RetimeOptions, iter_clip_drawings, retime_clip
from comfyui_animeinterp.core.clip.schedule import frame_rate, multiplier, plan_clip
from comfyui_animeinterp.core.clip.shard import (
    Span,
    needed_frames,
    plan_digest,
    plan_spans,
    render_spans,
    span_cost,
    split_spans,
)
from comfyui_animeinterp.core.data.synthetic import make_clip
from comfyui_animeinterp.core.errors import DataError, InputError
from comfyui_animeinterp.core.pipeline import Interpolator

H, W = 48, 64


@pytest.fixture(scope="module")
def clip():
    return make_clip(5, H, W, seed=3, hold=2, max_shift=5, cut_after=3)  # A A B B C C | D D E E


@pytest.fixture(scope="module")
def interpolator():
    return Interpolator()  # weight-free


def _spans(frames, timing, **options):
    return plan_spans(iter_clip_drawings(frames, RetimeOptions(**options)), timing)


class _Planner:
    """A stand-in interpolator: retime_clip's plan without rendering anything."""

    def prepare(self, a, b):
        return None

    def frame_at(self, pair, t):
        return np.zeros((1, 1, 3), np.uint8)


@pytest.mark.parametrize("timing", [multiplier(3), frame_rate(24, 60)])
@pytest.mark.parametrize("held", [True, False])
def test_spans_concatenate_to_the_single_run_plan(clip, timing, held):
    spans = _spans(clip, timing, held_drawings=held)
    plan = [p for s in spans for p in s.plan(timing)]
    assert plan == [f.plan for f in retime_clip(clip, _Planner(), timing, RetimeOptions(held_drawings=held))]
    assert [s.first_output for s in spans] == list(np.cumsum([0] + [s.count for s in spans[:-1]]))
    assert sum(s.count for s in spans) == timing.output_count(len(clip))
    if held:  # one span per drawing: a held drawing's frames are all in its span
        assert [(s.start, s.stop, s.interpolate) for s in spans] == [
            (0, 2, True), (2, 4, True), (4, 6, False), (6, 8, True), (8, 9, False)]
        starts, cuts = [0, 2, 4, 6, 8], [False, False, False, True, False]
        assert plan == plan_clip(starts, cuts, len(clip), timing)


def test_span_cost_counts_rendering():
    drawing_only = Span(0, 0, 2, False, False, 0, 3, 0)
    rendered = Span(0, 0, 2, True, False, 0, 3, 2)
    assert span_cost(drawing_only) == 3
    assert span_cost(rendered) > 10 * span_cost(drawing_only)


@pytest.mark.parametrize("costs,world,expected", [
    ([1, 1, 1, 1], 2, [range(2), range(2, 4)]),
    ([5, 1, 1, 1, 1, 1], 2, [range(1), range(1, 6)]),
    ([1, 1, 1, 1, 1], 1, [range(5)]),
    ([3, 3], 4, [range(0), range(1), range(1, 1), range(1, 2)]),
    ([0, 0, 0], 2, [range(0), range(3)]),
    ([], 3, [range(0)] * 3),
])
def test_split_spans(costs, world, expected):
    assert split_spans(costs, world) == expected


def test_split_spans_is_contiguous_and_balanced():
    rng = np.random.default_rng(0)
    costs = rng.integers(0, 100, 500).tolist()
    for world in (2, 3, 7, 16):
        ranges = split_spans(costs, world)
        assert len(ranges) == world and ranges[0].start == 0 and ranges[-1].stop == len(costs)
        assert all(a.stop == b.start for a, b in pairwise(ranges))
        loads = [sum(costs[r.start:r.stop]) for r in ranges]
        assert max(loads) - min(loads) <= 2 * max(costs)


def test_split_spans_rejects_bad_input():
    with pytest.raises(InputError, match="world size"):
        split_spans([1], 0)
    with pytest.raises(InputError, match="negative"):
        split_spans([1, -1], 2)


def test_plan_digest(clip):
    a, b = _spans(clip, multiplier(2)), _spans(clip, multiplier(3))
    assert plan_digest(a) == plan_digest(_spans(clip, multiplier(2))) != plan_digest(b)


@pytest.mark.parametrize("world", [2, 3])
def test_ranges_render_the_single_run_frames(clip, interpolator, world):
    timing = multiplier(2)
    single = [f.image for f in retime_clip(clip, interpolator, timing)]
    spans = _spans(clip, timing)
    got: dict[int, np.ndarray] = {}
    for r in split_spans([span_cost(s) for s in spans], world):
        fresh = Interpolator()  # each process has its own (its frame memo starts empty)
        for number, item in render_spans(iter(enumerate(clip)), spans[r.start:r.stop], fresh, timing):
            assert number not in got
            got[number] = item.image
    assert sorted(got) == list(range(len(single)))
    for number, image in enumerate(single):
        np.testing.assert_array_equal(got[number], image)


def test_render_spans_needs_the_planned_frames(clip, interpolator):
    spans = _spans(clip, multiplier(2))
    with pytest.raises(DataError, match="ended before"):
        list(render_spans(clip[:5], spans[2:], interpolator, multiplier(2)))
    assert list(render_spans(clip, [], interpolator, multiplier(2))) == []


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_frame_reader_select_reads_the_frames_a_full_pass_reads(clip, tmp_path, kind):
    from comfyui_animeinterp.core.io.video import FrameReader, write_frames, write_video

    path = tmp_path / ("in" if kind == "folder" else "in.avi")
    write_frames(path, clip) if kind == "folder" else write_video(path, clip, 24.0, codec="MJPG")
    full = dict(FrameReader(path))
    got = list(FrameReader(path).select([7, 2, 3]))
    assert [i for i, _ in got] == [2, 3, 7]
    for i, frame in got:
        np.testing.assert_array_equal(frame, full[i])
    with pytest.raises(DataError, match="frame 10"):
        list(FrameReader(path).select([10]))


def test_needed_frames(clip):
    spans = _spans(clip, multiplier(2))  # A A B B C C | D D E E
    assert needed_frames(spans[:2]) == [0, 2, 4]
    assert needed_frames(spans[2:3]) == [4]  # C is repeated up to the cut: D is not read
    assert needed_frames(spans[3:]) == [6, 8]
