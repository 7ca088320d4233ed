"""Split a clip's output between several processes: contiguous ranges of whole drawing spans.

A clip's output is the concatenation of its drawings' **spans** (``core.clip.schedule``): span
``k`` is drawing ``k`` at its own time, then the in-betweens of drawings ``k`` and ``k + 1`` (or
repeats of ``k`` when a scene cut follows, or after the last drawing). The span is the unit of work:
it covers all the held frames of drawing ``k`` and needs one ``Interpolator.prepare`` of the pair,
so cutting the clip between spans never splits a held drawing, never separates a pair's
in-betweens (which share one prepared pair) and puts no cut inside a range's work item.

:func:`plan_spans` turns the drawings into spans, each with the global number of its first output
frame (so each process names its files as a single process would); :func:`split_spans` gives each
process a contiguous range of spans of about equal :func:`span_cost`; :func:`render_spans` renders
one range from a fresh pass over the source frames, keeping at most two frames.
"""
from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from ..errors import DataError, InputError
from ..pipeline import Interpolator
from .drawings import Drawing, FrameStream
from .retime import RetimedFrame, render_span
from .schedule import PlannedFrame, Timing, plan_span

INBETWEEN_COST = 20
"""Cost of rendering one in-between (or of preparing a pair), in frame writes: a weight-free
in-between at 960x540 takes about 1 s, writing a PNG about 0.05 s (the learned path is costlier
still, so the weight mostly says "rendering dominates")."""


@dataclass(frozen=True)
class Span:
    """The output frames of drawing ``drawing``'s span.

    Attributes:
        drawing: index of the drawing; ``start``: its first source frame.
        stop: source index of the next drawing or, for the ``last`` span, the clip's last index.
        interpolate: True if the next drawing continues the shot (in-betweens), False at a cut.
        first_output: global number of the span's first output frame.
        count: number of output frames; ``inbetweens``: how many of them are in-betweens.
    """

    drawing: int
    start: int
    stop: int
    interpolate: bool
    last: bool
    first_output: int
    count: int
    inbetweens: int

    def plan(self, timing: Timing) -> list[PlannedFrame]:
        return plan_span(self.drawing, self.start, self.stop, self.interpolate, timing, last=self.last)


def plan_spans(drawings: Iterable[Drawing], timing: Timing) -> list[Span]:
    """The spans of a clip's drawings (as ``retime_clip`` plans them), numbered globally.

    Only ``index``, ``start``, ``length`` and ``cut_before`` of the drawings are used; their frames
    are dropped as the stream goes, so planning a long clip keeps no frames.
    """
    spans: list[Span] = []
    previous: tuple[int, int] | None = None  # (index, start) of the drawing before
    first_output = 0

    def add(index: int, start: int, stop: int, interpolate: bool, last: bool) -> None:
        nonlocal first_output
        plan = plan_span(index, start, stop, interpolate, timing, last=last)
        inbetweens = sum(p.is_inbetween for p in plan)
        spans.append(Span(index, start, stop, interpolate, last, first_output, len(plan), inbetweens))
        first_output += len(plan)

    end = -1
    for d in drawings:
        if previous is not None:
            add(*previous, d.start, not d.cut_before, False)
        previous, end = (d.index, d.start), d.start + d.length - 1
    if previous is not None:
        add(*previous, end, False, True)
    return spans


def span_cost(span: Span) -> int:
    """Relative cost of a span: its frame writes plus :data:`INBETWEEN_COST` per in-between and per
    prepared pair."""
    rendered = span.inbetweens + 1 if span.inbetweens else 0
    return span.count + INBETWEEN_COST * rendered


def split_spans(costs: Sequence[float], world_size: int) -> list[range]:
    """Contiguous ranges of span indices, one per process, of about equal total cost.

    Boundary ``r`` is placed where the running cost comes closest to ``r / world_size`` of the
    total (ties go to the earlier index), so the ranges are in order, cover every span once and
    are deterministic; with fewer spans than processes some ranges are empty.
    """
    if world_size < 1:
        raise InputError(f"world size must be at least 1, got {world_size}")
    if any(c < 0 for c in costs):
        raise InputError("span costs must not be negative")
    prefix = np.concatenate([[0.0], np.cumsum(np.asarray(costs, dtype=np.float64))])
    total = prefix[-1]
    bounds = [0]
    for r in range(1, world_size):
        target = total * r / world_size
        best = int(np.argmin(np.abs(prefix - target)))
        bounds.append(max(best, bounds[-1]))
    bounds.append(len(costs))
    return [range(a, b) for a, b in pairwise(bounds)]


def plan_digest(spans: Sequence[Span]) -> str:
    """A short digest of a plan: equal on two processes iff they planned the same spans."""
    text = ";".join(f"{s.drawing},{s.start},{s.stop},{int(s.interpolate)},{int(s.last)},{s.count}"
                    for s in spans)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _indexed(frames: FrameStream) -> Iterator[tuple[int, np.ndarray]]:
    for position, item in enumerate(frames):
        yield (int(item[0]), item[1]) if isinstance(item, tuple) else (position, item)


def needed_frames(spans: Sequence[Span]) -> list[int]:
    """Source indices whose frames rendering ``spans`` reads: each drawing's first frame, and the
    next drawing's where a span interpolates (increasing)."""
    return sorted({s.start for s in spans} | {s.stop for s in spans if s.interpolate})


def render_spans(frames: FrameStream, spans: Sequence[Span], interpolator: Interpolator,
                 timing: Timing) -> Iterator[tuple[int, RetimedFrame]]:
    """``(global output number, frame)`` of the given consecutive spans, in order.

    Args:
        frames: the clip's source frames again (as planned), or ``(source_index, frame)`` pairs
            (at least those of :func:`needed_frames`); read up to the last one the spans need,
            keeping at most two.
        spans: a contiguous range of :func:`plan_spans`' spans.
    """
    if not spans:
        return
    wanted = set(needed_frames(spans))
    last_needed = max(wanted)
    held: dict[int, np.ndarray] = {}
    queue = deque(spans)
    for index, frame in _indexed(frames):
        if index in wanted:
            held[index] = frame
        while queue and queue[0].start in held and (not queue[0].interpolate or queue[0].stop in held):
            span = queue.popleft()
            second = held[span.stop] if span.interpolate else None
            for offset, item in enumerate(render_span(span.plan(timing), held[span.start], second, interpolator)):
                yield span.first_output + offset, item
            del held[span.start]
        if index >= last_needed:
            break
    if queue:
        raise DataError(f"the clip ended before source frame {queue[0].start} (or {queue[0].stop}) was read "
                        "again: did it change since it was planned?")
