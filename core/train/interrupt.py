"""Stopping a run cleanly: Ctrl-C / SIGTERM (and ComfyUI's Cancel) end the run after the current
optimizer step, which is then checkpointed — so an interruption loses nothing.

A second Ctrl-C aborts at once (the last periodic checkpoint is then the resume point).
Signal handlers are only installed from the main thread (ComfyUI runs nodes in another thread;
there the node passes ComfyUI's cancel flag as ``should_stop``).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


class StopRequest:
    """A flag set by a signal (or by code) and polled between optimizer steps."""

    def __init__(self) -> None:
        self.reason: str | None = None

    @property
    def requested(self) -> bool:
        return self.reason is not None

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest) -> Iterator[StopRequest]:
    """While active, SIGINT/SIGTERM set ``stop``; a second signal raises KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    names = {signal.SIGINT: "Ctrl-C (SIGINT)"}
    if hasattr(signal, "SIGTERM"):
        names[signal.SIGTERM] = "SIGTERM"
    previous = {}

    def handler(signum, frame):  # the signal API's arguments
        if stop.requested:
            raise KeyboardInterrupt
        stop.request(names.get(signum, f"signal {signum}"))
        log.warning("%s: stopping after this step and saving a checkpoint (again to abort now)", stop.reason)

    for sig in names:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def is_interrupt(exc: BaseException) -> bool:
    """KeyboardInterrupt or ComfyUI's ``InterruptProcessingException`` (matched by name: no import)."""
    return isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "InterruptProcessingException"
