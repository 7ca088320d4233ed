"""Progress + cancellation for loops inside nodes."""
from __future__ import annotations

from typing import Callable

from .comfy_env import ProgressBar, throw_if_interrupted


def progress_step(total: int) -> Callable[[int, int], None]:
    """A ``step(done, total)`` callback for ``core`` loops: advances a ComfyUI progress bar and
    raises ComfyUI's interruption exception when the user cancels."""
    bar = ProgressBar(total)
    throw_if_interrupted()

    def step(done: int, _total: int) -> None:
        bar.update_absolute(done, _total)
        throw_if_interrupted()

    return step
