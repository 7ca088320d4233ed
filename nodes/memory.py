"""Memory given back: our cached networks follow ComfyUI's unload / free-memory requests, and freed
memory goes back to the operating system.

``comfy.model_management`` only knows the models it loaded itself. :func:`hook_model_management`
wraps its ``unload_all_models`` (the "Unload models" / "Free model and node cache" actions) and
``free_memory`` (called when a model needs room) so that they also release the AnimeInterp model
cache. :func:`trim` then runs the garbage collector and asks glibc to hand freed heap pages back
(``malloc_trim``): without it, a fine-tuning run's gigabytes stay in the process after being freed.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import sys
from collections.abc import Callable

from .comfy_env import _optional

log = logging.getLogger(__name__)

_HOOKED = "_animeinterp_release_hooked"


def trim() -> bool:
    """``gc.collect()`` plus glibc's ``malloc_trim(0)`` (Linux with glibc only); True if trimmed."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to trim with
        return False


def hook_model_management(release: Callable[[], int]) -> bool:
    """Make ComfyUI's unload-all and free-memory requests call ``release`` too (idempotent).

    Returns True when the hooks were installed now, False outside ComfyUI or when already there.
    """
    mm = _optional("comfy.model_management")
    if mm is None or getattr(mm, _HOOKED, False):
        return False
    unload_all = getattr(mm, "unload_all_models", None)
    free_memory = getattr(mm, "free_memory", None)

    if unload_all is not None:
        def unload_all_models(*args, **kwargs):
            result = unload_all(*args, **kwargs)
            _release(release, "unload all models")
            return result

        mm.unload_all_models = unload_all_models

    if free_memory is not None:
        def free_memory_and_ours(memory_required, device, *args, **kwargs):
            result = free_memory(memory_required, device, *args, **kwargs)
            try:
                short = mm.get_free_memory(device) < memory_required
            except Exception:  # noqa: BLE001 - a device ComfyUI cannot measure: leave our cache alone
                short = False
            if short:
                _release(release, f"free memory on {device}")
            return result

        mm.free_memory = free_memory_and_ours
    setattr(mm, _HOOKED, True)
    return True


def _release(release: Callable[[], int], why: str) -> None:
    n = release()
    if n:
        log.info("AnimeInterp: released %d cached networks (%s)", n, why)
