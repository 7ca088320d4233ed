"""Which frames to output for a clip: the retiming rules of interpolation.

Time is measured in **source frames**: source frame ``i`` is shown at time ``i``, and a clip of
``n`` frames spans ``[0, n - 1]``. A :class:`Timing` picks the output times on that span:

* :func:`multiplier` ``m``: times ``j / m`` -> ``(n - 1) * m + 1`` frames, at ``m`` x the source rate;
* :func:`frame_rate` ``(source_fps, target_fps)``: times ``j * source_fps / target_fps`` up to
  ``n - 1`` -> ``floor((n - 1) * target_fps / source_fps) + 1`` frames, at ``target_fps``;
* :func:`per_pair` ``[c0, c1, ...]``: ``c_i`` evenly spaced in-betweens inside pair ``(i, i + 1)``
  (the list repeats when it is shorter than the clip) -> ``n + sum(c_i)`` frames.

The first output is always source frame 0 and the output spans the clip's first to last frame, so
its duration (first to last frame) is the clip's. The **count depends only on ``n`` and the
timing**, never on the content: held drawings and scene cuts decide what each output frame shows,
not how many there are.

What each output time shows is decided on the clip's **drawings** (see ``core.clip.drawings``): a
drawing ``k`` starts at source frame ``s_k`` and is held until the next drawing starts at
``s_{k+1}``. An output time ``tau`` with ``s_k <= tau < s_{k+1}`` shows

* drawing ``k`` itself when ``tau == s_k`` (originals stay in place, pixel for pixel);
* the in-between of drawings ``k`` and ``k + 1`` at ``t = (tau - s_k) / (s_{k+1} - s_k)`` when the
  two drawings belong to one shot — so a clip drawn on twos or threes moves smoothly instead of
  stepping, and keeps its timing;
* drawing ``k`` again (a repeat) when a scene cut separates it from drawing ``k + 1``, and after
  the last drawing (nothing is interpolated across a cut or past the end).

With held-drawing detection off every source frame is its own drawing, so this reduces to the
usual "in-betweens between consecutive frames".
"""
from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..errors import InputError

MAX_MULTIPLIER = 64
MAX_INBETWEENS_PER_PAIR = 63
STEP_DENOMINATOR = 10_000


class Timing(ABC):
    """The output times of a clip, in source-frame units."""

    @abstractmethod
    def times(self, start: int, stop: int) -> list[Fraction]:
        """Output times ``tau`` with ``start <= tau < stop`` (``start``, ``stop``: source indices), sorted."""

    @abstractmethod
    def includes(self, index: int) -> bool:
        """True if the integer time ``index`` is an output time (decides the clip's last frame)."""

    def clip_times(self, n_frames: int) -> list[Fraction]:
        """All output times of a clip of ``n_frames`` source frames."""
        _check_frames(n_frames)
        last = n_frames - 1
        return self.times(0, last) + ([Fraction(last)] if self.includes(last) else [])

    def output_count(self, n_frames: int) -> int:
        """Number of output frames for a clip of ``n_frames`` source frames."""
        return len(self.clip_times(n_frames))

    def output_fps(self, source_fps: float, n_frames: int) -> float:
        """Frame rate that plays the output in the clip's first-to-last-frame duration."""
        count = self.output_count(n_frames)
        return float(source_fps) if n_frames < 2 else float(source_fps) * (count - 1) / (n_frames - 1)


@dataclass(frozen=True)
class PerPair(Timing):
    """``counts[i % len(counts)]`` evenly spaced in-betweens inside each source pair ``(i, i + 1)``."""

    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.counts:
            raise InputError("the per-pair schedule is empty; give at least one in-between count")
        for c in self.counts:
            if int(c) != c or not 0 <= c <= MAX_INBETWEENS_PER_PAIR:
                raise InputError(
                    f"in-between counts must be integers in [0, {MAX_INBETWEENS_PER_PAIR}]; got {c}")

    def count_for(self, pair: int) -> int:
        return int(self.counts[pair % len(self.counts)])

    def times(self, start: int, stop: int) -> list[Fraction]:
        out: list[Fraction] = []
        for i in range(start, stop):
            c = self.count_for(i)
            out += [i + Fraction(j, c + 1) for j in range(c + 1)]
        return out

    def includes(self, index: int) -> bool:
        return True

    def output_count(self, n_frames: int) -> int:
        _check_frames(n_frames)
        full, rest = divmod(n_frames - 1, len(self.counts))
        return n_frames + full * sum(self.counts) + sum(self.counts[:rest])


@dataclass(frozen=True)
class FrameRate(Timing):
    """Resample from ``source_fps`` to ``target_fps``: output ``j`` is at time ``j * step``.

    ``step = source_fps / target_fps`` is snapped to the nearest fraction with a denominator of at
    most :data:`STEP_DENOMINATOR`, so 23.976 -> 59.94 is exactly 2/5 and no rounding drift moves an
    original frame off the grid.
    """

    source_fps: float
    target_fps: float

    @property
    def step(self) -> Fraction:
        """Source frames between two output frames."""
        return Fraction(self.source_fps / self.target_fps).limit_denominator(STEP_DENOMINATOR)

    def times(self, start: int, stop: int) -> list[Fraction]:
        step = self.step
        first = math.ceil(Fraction(start) / step)
        end = math.ceil(Fraction(stop) / step)
        return [j * step for j in range(first, end)]

    def includes(self, index: int) -> bool:
        return (Fraction(index) / self.step).denominator == 1

    def output_count(self, n_frames: int) -> int:
        _check_frames(n_frames)
        return math.floor((n_frames - 1) / self.step) + 1

    def output_fps(self, source_fps: float, n_frames: int) -> float:
        return float(self.target_fps)


def multiplier(m: int) -> PerPair:
    """``m`` x the frame rate: ``m - 1`` in-betweens per pair at ``t = k / m``."""
    if isinstance(m, bool) or int(m) != m or not 2 <= m <= MAX_MULTIPLIER:
        raise InputError(f"multiplier must be an integer in [2, {MAX_MULTIPLIER}]; got {m}")
    return PerPair((int(m) - 1,))


def frame_rate(source_fps: float, target_fps: float) -> FrameRate:
    """Resample a ``source_fps`` clip to ``target_fps`` (e.g. 23.976 -> 59.94)."""
    src, dst = _fps(source_fps, "source fps"), _fps(target_fps, "target fps")
    if dst / src > MAX_MULTIPLIER:
        raise InputError(f"target fps {dst:g} is more than {MAX_MULTIPLIER} x the source fps {src:g}")
    if dst / src < 1 / MAX_MULTIPLIER:
        raise InputError(f"target fps {dst:g} is less than 1/{MAX_MULTIPLIER} of the source fps {src:g}")
    return FrameRate(src, dst)


def per_pair(counts: Iterable[int] | str) -> PerPair:
    """A per-pair schedule from counts or a string like ``"1, 3, 1"`` (repeats over the clip)."""
    if isinstance(counts, str):
        counts = parse_int_list(counts, "schedule")
    return PerPair(tuple(int(c) for c in counts))


def parse_int_list(text: str, name: str = "list") -> list[int]:
    """``"1, 2 3"`` -> ``[1, 2, 3]`` (commas and/or spaces)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise InputError(f"{name}: expected whole numbers separated by commas, got {text!r}") from None


def parse_times(text: str) -> list[float]:
    """``"0.25, 0.5, 0.75"`` -> in-between times, each strictly inside (0, 1), sorted, unique."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = sorted({float(p) for p in parts})
    except ValueError:
        raise InputError(f"times: expected numbers separated by commas, got {text!r}") from None
    if not values:
        raise InputError("times: give at least one time in (0, 1), e.g. '0.5'")
    bad = [v for v in values if not 0.0 < v < 1.0]
    if bad:
        raise InputError(f"times must be strictly between 0 and 1; got {bad}")
    return values


def _fps(value: float, name: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(f) or f <= 0:
        raise InputError(f"{name} must be a positive number, got {value}")
    return f


def _check_frames(n_frames: int) -> None:
    if n_frames < 1:
        raise InputError("the clip has no frames")


# ---------------------------------------------------------------------------------------------
# What each output time shows.
@dataclass(frozen=True)
class PlannedFrame:
    """One output frame.

    Attributes:
        time: output time in source frames.
        drawing: the drawing shown, or the first drawing of the in-between pair.
        t: 0 for a drawing or a repeat; in (0, 1) for the in-between of ``drawing`` and ``drawing + 1``.
        kind: ``"drawing"`` (the original, at its own time), ``"inbetween"`` or ``"repeat"``.
    """

    time: Fraction
    drawing: int
    t: float
    kind: str

    @property
    def is_inbetween(self) -> bool:
        return self.kind == "inbetween"


def plan_span(drawing: int, start: int, stop: int, interpolate: bool, timing: Timing,
              last: bool = False) -> list[PlannedFrame]:
    """The output frames of drawing ``drawing``'s span.

    Args:
        drawing: index of the drawing starting at source frame ``start``.
        stop: source index where the next drawing starts or, with ``last``, the clip's last index.
        interpolate: True if the next drawing continues the shot (in-betweens), False for a cut.
        last: the span of the clip's last drawing: ``[start, stop]`` closed, never interpolated.
    """
    if stop < start or (stop == start and not last):
        raise InputError(f"a drawing span must end after it starts; got [{start}, {stop}]")
    times = timing.times(start, stop)
    if last:
        interpolate = False
        if timing.includes(stop):
            times.append(Fraction(stop))
    out = []
    for tau in times:
        if tau == start:
            out.append(PlannedFrame(tau, drawing, 0.0, "drawing"))
        elif interpolate:
            out.append(PlannedFrame(tau, drawing, float((tau - start) / (stop - start)), "inbetween"))
        else:
            out.append(PlannedFrame(tau, drawing, 0.0, "repeat"))
    return out


def plan_clip(starts: Sequence[int], cut_before: Sequence[bool], n_frames: int,
              timing: Timing) -> list[PlannedFrame]:
    """Every output frame of a clip, from its drawings.

    Args:
        starts: source index of each drawing's first frame (increasing, ``starts[0] == 0``).
        cut_before: per drawing, True if a scene cut separates it from the previous one.
        n_frames: number of source frames.
    """
    _check_frames(n_frames)
    if len(starts) != len(cut_before) or not starts:
        raise InputError("starts and cut_before must be non-empty and of one length")
    if starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)) or starts[-1] >= n_frames:
        raise InputError(f"drawing starts must increase from 0 and stay below {n_frames}; got {list(starts)}")
    out: list[PlannedFrame] = []
    for k, start in enumerate(starts):
        if k + 1 < len(starts):
            out += plan_span(k, start, starts[k + 1], not cut_before[k + 1], timing)
        else:
            out += plan_span(k, start, n_frames - 1, False, timing, last=True)
    return out
