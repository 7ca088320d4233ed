"""Progress and cancellation checkpoints inside long loops (no ComfyUI import here).

Long loops (segment fills and merge passes, per-segment flows, flow-net iterations, synthesis,
fine-tuning steps) call :func:`checkpoint` between units of work. By default that does nothing.
A host installs a callback with :func:`reporting`; the callback receives an :class:`Update` and
may raise to cancel the work (the ComfyUI nodes raise ComfyUI's interruption exception, the
trainer raises :class:`Cancelled`), and may show the progress.

The callback is held in a context variable, so it reaches code deep inside the library without a
parameter in every signature; :func:`core.concurrency.map_threaded` carries it into its worker
threads. A callback must therefore be cheap and thread-safe.

    with reporting(my_callback):
        interpolator.prepare(frame1, frame3)   # my_callback(Update("segment", ...)), ...
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

STAGES = ("segment", "match", "coarse flow", "refine", "synthesis")
"""The stages of one frame pair, in order (``"train"`` is the fine-tuning loop's)."""
NETWORK = "network"
"""The stage of the checkpoints before every ``torch.nn.Module`` call (see :func:`reporting`)."""


@dataclass(frozen=True)
class Update:
    """One checkpoint.

    Attributes:
        stage: one of :data:`STAGES` or ``"train"``.
        done, total: units of the stage finished so far (``total == 0``: unknown).
        preview: a callable giving a ``uint8`` RGB ``(H, W, 3)`` picture of the stage's result
            (computed only if the host wants it), or None.
    """

    stage: str
    done: int = 0
    total: int = 0
    preview: Callable[[], np.ndarray] | None = None

    @property
    def fraction(self) -> float:
        """``done / total`` in [0, 1] (0 when the total is unknown)."""
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0


Checkpoint = Callable[[Update], None]


class Cancelled(Exception):
    """Raised by a checkpoint callback made with :func:`stop_when` when the work should stop."""


_ACTIVE: contextvars.ContextVar[Checkpoint | None] = contextvars.ContextVar("animeinterp_checkpoint",
                                                                             default=None)


def checkpoint(stage: str, done: int = 0, total: int = 0,
               preview: Callable[[], np.ndarray] | None = None) -> None:
    """Report progress to the active callback, which may raise to cancel; no-op without one."""
    callback = _ACTIVE.get()
    if callback is not None:
        callback(Update(stage, done, total, preview))


def active() -> Checkpoint | None:
    """The callback in force in this context (None: nobody listens)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def reporting(callback: Checkpoint | None) -> Iterator[None]:
    """Make ``callback`` receive the checkpoints of the code run inside (None: silence them).

    While a callback is active, every ``torch.nn.Module`` call in this context is a checkpoint too
    (stage :data:`NETWORK`, through a global forward pre-hook that does nothing in other
    contexts), so a long network forward (GridNet, the encoders, VGG) stops within one layer.
    """
    token = _ACTIVE.set(callback)
    if callback is not None:
        _module_hook.acquire()
    try:
        yield
    finally:
        if callback is not None:
            _module_hook.release()
        _ACTIVE.reset(token)


def _before_module(_module, _inputs) -> None:
    callback = _ACTIVE.get()
    if callback is not None:
        callback(Update(NETWORK))


class _ModuleHook:
    """The global forward pre-hook, registered while at least one :func:`reporting` is open."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.handle = None

    def acquire(self) -> None:
        with self.lock:
            self.users += 1
            if self.handle is None:
                from torch.nn.modules.module import register_module_forward_pre_hook

                self.handle = register_module_forward_pre_hook(_before_module)

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.handle is not None:
                self.handle.remove()
                self.handle = None


_module_hook = _ModuleHook()


def stop_when(should_stop: Callable[[], bool], then: Checkpoint | None = None) -> Checkpoint:
    """A callback raising :class:`Cancelled` once ``should_stop()`` is true, else passing the
    update on to ``then`` (for instance the callback that was active before)."""

    def callback(update: Update) -> None:
        if should_stop():
            raise Cancelled(f"stopped during {update.stage}")
        if then is not None:
            then(update)

    return callback
