"""Interpolate a whole clip as a stream: frames in, retimed frames out, in bounded memory.

    source frames -> drawings (held frames grouped, scene cuts marked; ``core.clip.drawings``)
                  -> for each pair of consecutive drawings: the output frames of its span
                     (``core.clip.schedule``), rendered with one ``Interpolator.prepare`` per pair

Only the current and the next drawing (and one prepared pair) are held at any time, whatever the
clip's length; output frames are yielded one by one, in order. The CLI and the one-click node
share this function.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..pipeline import Interpolator
from .drawings import Drawing, FrameStream, SequenceOptions, is_scene_cut, iter_drawings, signature
from .schedule import PlannedFrame, Timing, plan_span


@dataclass(frozen=True)
class RetimeOptions:
    """How a clip is cut into drawings.

    Attributes:
        held_drawings: group identical consecutive frames (anime on twos / threes) and time the
            in-betweens between distinct drawings; False treats every frame as a drawing.
        scene_cuts: never interpolate across a detected scene cut (repeat instead).
        sequence: thresholds of both tests (the stricter cut test of
            :meth:`SequenceOptions.for_interpolation`: a false cut would make a visible stutter).
    """

    held_drawings: bool = True
    scene_cuts: bool = True
    sequence: SequenceOptions = field(default_factory=SequenceOptions.for_interpolation)


@dataclass
class RetimedFrame:
    """One output frame: ``image`` is ``uint8`` RGB ``(H, W, 3)``; ``plan`` says what it is."""

    image: np.ndarray
    plan: PlannedFrame


def iter_clip_drawings(frames: FrameStream, options: RetimeOptions = RetimeOptions()) -> Iterator[Drawing]:
    """The clip's drawings under ``options`` (each yielded once its hold has ended)."""
    if options.held_drawings:
        stream = iter_drawings(frames, options.sequence)
    else:
        stream = _every_frame(frames, options.sequence)
    shot = 0
    for d in stream:
        cut = d.cut_before and options.scene_cuts
        shot += int(cut)
        yield Drawing(d.index, d.start, d.length, d.frame, shot, cut)


def _every_frame(frames: FrameStream, options: SequenceOptions) -> Iterator[Drawing]:
    """Every frame as its own drawing, with scene cuts marked."""
    pending: Drawing | None = None
    previous = None
    for position, item in enumerate(frames):
        index, frame = (int(item[0]), item[1]) if isinstance(item, tuple) else (position, item)
        sig = signature(frame, options)
        if pending is not None:
            pending.length = index - pending.start
            yield pending
        cut = previous is not None and is_scene_cut(previous, sig, options)
        pending = Drawing(0 if pending is None else pending.index + 1, index, 1, frame, 0, cut)
        previous = sig
    if pending is not None:
        yield pending


def retime_clip(frames: FrameStream, interpolator: Interpolator, timing: Timing,
                options: RetimeOptions = RetimeOptions()) -> Iterator[RetimedFrame]:
    """Yield the clip's output frames in order (see ``core.clip.schedule`` for which and how many).

    Args:
        frames: ``uint8`` RGB frames of one size, or ``(source_index, frame)`` pairs (as
            ``core.io.video.FrameReader`` yields them).
        interpolator: renders the in-betweens (learned or weight-free).
        timing: the output times (``schedule.multiplier`` / ``frame_rate`` / ``per_pair``).
    """
    current: Drawing | None = None
    for drawing in iter_clip_drawings(frames, options):
        if current is not None:
            plan = plan_span(current.index, current.start, drawing.start, not drawing.cut_before, timing)
            yield from render_span(plan, current.frame, drawing.frame, interpolator)
        current = drawing
    if current is not None:
        end = current.start + current.length - 1
        yield from render_span(plan_span(current.index, current.start, end, False, timing, last=True),
                               current.frame, None, interpolator)


def render_span(plan: list[PlannedFrame], first: np.ndarray, second: np.ndarray | None,
                interpolator: Interpolator) -> Iterator[RetimedFrame]:
    """The frames of one drawing span: ``first`` (the drawing's frame) where planned, else the
    in-betweens of ``first`` and ``second`` (the next drawing's frame), from one prepared pair."""
    pair = None
    for item in plan:
        if not item.is_inbetween:
            yield RetimedFrame(first, item)
            continue
        if pair is None:
            pair = interpolator.prepare(first, second)
        yield RetimedFrame(interpolator.frame_at(pair, item.t), item)
    del pair
