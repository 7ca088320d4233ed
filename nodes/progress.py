"""Progress + cancellation for node runs: ComfyUI's bar and Cancel behind ``core.progress``.

A node opens a :class:`NodeProgress` over its units of work (output frames, pairs); inside,
every ``core.progress.checkpoint`` of the library checks ComfyUI's Cancel (so a cancel lands
within one segment-fill round, one per-segment flow, one flow-net iteration or one in-between)
and moves the bar inside the current unit, stage by stage, with a preview where the stage has one.
"""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from ..core import progress as core_progress
from ..core.progress import STAGES, Update
from .comfy_env import ProgressBar, throw_if_interrupted

UPDATE_EVERY_S = 0.2
"""At most this often a sub-step update goes to the UI (unit boundaries always do)."""
PREVIEW_EVERY_S = 1.0
"""At most this often a preview is rendered and sent."""
INSIDE_UNIT = 0.999
"""A unit's sub-steps never reach the next whole number (that is the unit's own end)."""


class NodeProgress:
    """ComfyUI's progress bar over ``total`` units, also moved by the library's checkpoints.

    Args:
        total: units of work (the bar ends at ``total``).
        stages: the stages of one unit in order; a checkpoint of stage ``s`` at ``done/total``
            puts the bar at ``unit + (index(s) + done/total) / len(stages)``. Stages not listed
            only check Cancel.
        clock: time source (tests).
    """

    def __init__(self, total: int, stages: Sequence[str] = STAGES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bar = ProgressBar(total)
        self.stages = list(stages)
        self.clock = clock
        self.unit = 0
        self.value = 0.0
        self.stage = ""
        """The stage of the last checkpoint seen."""
        self._owner = threading.get_ident()
        self._last_sent = self._last_preview = float("-inf")
        throw_if_interrupted()

    @property
    def total(self) -> int:
        return self.bar.total

    def step(self, done: int, total: int) -> None:
        """A unit ended: the ``core`` loops' ``step(done, total)`` callback."""
        self.unit = int(done)
        self.value = float(done)
        self.bar.update_absolute(int(done), total)
        self._last_sent = self.clock()
        throw_if_interrupted()

    def __call__(self, update: Update) -> None:
        """The ``core.progress`` checkpoint: raise on Cancel, move the bar (throttled)."""
        if update.stage != core_progress.NETWORK:
            self.stage = update.stage
        throw_if_interrupted()
        if threading.get_ident() != self._owner or update.stage not in self.stages:
            return  # worker threads only check Cancel; the UI is updated from the node's thread
        inside = (self.stages.index(update.stage) + update.fraction) / len(self.stages)
        value = self.unit + min(inside, INSIDE_UNIT)
        if value <= self.value:
            return
        self.value = value
        now = self.clock()
        if now - self._last_sent < UPDATE_EVERY_S:
            return
        self._last_sent = now
        picture = None
        if update.preview is not None and now - self._last_preview >= PREVIEW_EVERY_S:
            self._last_preview = now
            picture = update.preview()
        self.bar.update_absolute(value, preview=picture)

    @contextlib.contextmanager
    def active(self) -> Iterator[NodeProgress]:
        """Route the library's checkpoints inside the block to this bar."""
        with core_progress.reporting(self):
            yield self


@contextlib.contextmanager
def node_progress(total: int, stages: Sequence[str] = STAGES) -> Iterator[NodeProgress]:
    """``with node_progress(n) as p: core_loop(..., step=p.step)``: bar, sub-steps and Cancel."""
    with NodeProgress(total, stages).active() as p:
        yield p


def progress_step(total: int) -> Callable[[int, int], None]:
    """A ``step(done, total)`` callback for ``core`` loops (whole units only, no sub-steps):
    advances a ComfyUI progress bar and raises ComfyUI's interruption exception on Cancel."""
    return NodeProgress(total).step
