"""Retiming rules: output times, counts, held drawings, scene cuts (core.clip.schedule)."""
from __future__ import annotations

from fractions import Fraction

import pytest
from comfyui_animeinterp.core.clip.schedule import (
    frame_rate,
    multiplier,
    parse_times,
    per_pair,
    plan_clip,
    plan_span,
)
from comfyui_animeinterp.core.errors import InputError


@pytest.mark.parametrize("m", [2, 3, 4, 8])
@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_multiplier_count_and_times(m, n):
    timing = multiplier(m)
    times = timing.clip_times(n)
    assert timing.output_count(n) == len(times) == (n - 1) * m + 1
    assert times == [Fraction(j, m) for j in range(len(times))]
    assert timing.output_fps(24.0, n) == pytest.approx(24.0 * m if n > 1 else 24.0)


@pytest.mark.parametrize("src,dst,n,expected", [
    (24, 60, 3, 6),        # times 0, .4, .8, 1.2, 1.6, 2.0
    (24, 60, 4, 8),        # ... 2.4, 2.8 (frame 3 is not on the 60 fps grid)
    (24, 48, 10, 19),      # = x2
    (24000 / 1001, 60000 / 1001, 5, 11),
    (30, 24, 6, 5),        # slowing the rate down is resampling too
])
def test_frame_rate_count(src, dst, n, expected):
    timing = frame_rate(src, dst)
    times = timing.clip_times(n)
    assert timing.output_count(n) == len(times) == expected
    step = timing.step
    assert times == [j * step for j in range(expected)]
    assert timing.output_fps(src, n) == pytest.approx(dst)


def test_frame_rate_step_is_exact():
    assert frame_rate(24, 60).step == Fraction(2, 5)
    assert frame_rate(24000 / 1001, 59.94).step == Fraction(2, 5)  # NTSC source, typed target
    assert frame_rate(30, 24).step == Fraction(5, 4)
    assert frame_rate(24, 60000 / 1001).step == Fraction(1001, 2500)


def test_frame_rate_equals_multiplier_when_integer():
    assert frame_rate(12, 36).clip_times(9) == multiplier(3).clip_times(9)


def test_per_pair_schedule_repeats():
    timing = per_pair("1, 0, 3")
    n = 6  # pairs 0..4 get 1, 0, 3, 1, 0 in-betweens
    times = timing.clip_times(n)
    assert timing.output_count(n) == len(times) == n + 5
    assert times[:7] == [0, Fraction(1, 2), 1, 2, Fraction(9, 4), Fraction(5, 2), Fraction(11, 4)]
    assert times[-1] == n - 1
    assert timing.output_fps(24, n) == pytest.approx(24 * (len(times) - 1) / (n - 1))


@pytest.mark.parametrize("bad", [
    lambda: multiplier(1), lambda: multiplier(2.5), lambda: multiplier(1000),
    lambda: frame_rate(0, 24), lambda: frame_rate(24, -1), lambda: frame_rate(1, 500),
    lambda: per_pair(""), lambda: per_pair("1, x"), lambda: per_pair([-1]),
    lambda: parse_times("0.5, 1.0"), lambda: parse_times(""), lambda: parse_times("half"),
])
def test_bad_timings_are_input_errors(bad):
    with pytest.raises(InputError):
        bad()


def test_parse_times_sorted_unique():
    assert parse_times("0.75 0.25,0.5, 0.25") == [0.25, 0.5, 0.75]


def _kinds(plan):
    return [(float(p.time), p.kind, p.drawing, round(p.t, 4)) for p in plan]


def test_every_frame_a_drawing_keeps_originals_in_place():
    plan = plan_clip([0, 1, 2], [False, False, False], 3, multiplier(2))
    assert _kinds(plan) == [(0, "drawing", 0, 0), (0.5, "inbetween", 0, 0.5), (1, "drawing", 1, 0),
                            (1.5, "inbetween", 1, 0.5), (2, "drawing", 2, 0)]


def test_held_drawings_are_interpolated_between_distinct_drawings():
    # A A B B C C (on twos), x2: in-betweens at quarter steps between A, B and C; C is held at the end.
    plan = plan_clip([0, 2, 4], [False, False, False], 6, multiplier(2))
    assert len(plan) == multiplier(2).output_count(6) == 11
    assert _kinds(plan)[:5] == [(0, "drawing", 0, 0), (0.5, "inbetween", 0, 0.25), (1, "inbetween", 0, 0.5),
                                (1.5, "inbetween", 0, 0.75), (2, "drawing", 1, 0)]
    assert [p.kind for p in plan[-3:]] == ["drawing", "repeat", "repeat"]
    assert all(p.drawing == 2 for p in plan[-3:])


def test_no_inbetweens_across_a_scene_cut():
    # A A | B B: the cut before B turns A's in-betweens into repeats.
    plan = plan_clip([0, 2], [False, True], 4, multiplier(2))
    assert _kinds(plan) == [(0, "drawing", 0, 0), (0.5, "repeat", 0, 0), (1, "repeat", 0, 0),
                            (1.5, "repeat", 0, 0), (2, "drawing", 1, 0), (2.5, "repeat", 1, 0),
                            (3, "repeat", 1, 0)]


def test_count_does_not_depend_on_content():
    timing = frame_rate(24, 60)
    counts = {len(plan_clip(starts, cuts, 12, timing))
              for starts, cuts in [(list(range(12)), [False] * 12),
                                   ([0, 3, 5, 9], [False, True, False, False]), ([0], [False])]}
    assert counts == {timing.output_count(12)}


def test_smoothing_twos_at_the_source_rate():
    # Target fps = source fps: the held copies are replaced by in-betweens at t = 0.5.
    plan = plan_clip([0, 2, 4], [False] * 3, 5, frame_rate(24, 24))
    assert _kinds(plan) == [(0, "drawing", 0, 0), (1, "inbetween", 0, 0.5), (2, "drawing", 1, 0),
                            (3, "inbetween", 1, 0.5), (4, "drawing", 2, 0)]


def test_bad_spans():
    with pytest.raises(InputError):
        plan_span(0, 3, 3, True, multiplier(2))
    with pytest.raises(InputError):
        plan_clip([1, 2], [False, False], 3, multiplier(2))
    with pytest.raises(InputError):
        plan_clip([0, 5], [False, False], 3, multiplier(2))
