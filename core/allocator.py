"""Reuse freed memory instead of asking the kernel for fresh pages (glibc, Linux).

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB) with fresh pages
from the kernel and hands them back on ``free``; each 4 KiB page then faults and is zeroed on first
touch. The models allocate many such blocks: one GridNet activation at 960x540 is 67 MB. With mmap
off and the heap kept, freed blocks are reused as they are. Side by side in one run on an Intel Xeon
(``bench/bench_memory.py --allocator system,reuse``), one in-between of the learned path took 14.2 s
instead of 15.8 s at 960x540, peaking at 1.24 GB instead of 1.15 GB, and at 1920x1080 125.7 s
instead of 130.7 s, peaking at 2.92 GB instead of 2.25 GB (blocks of different sizes leave holes
in the heap).

Because it trades memory for speed, it is opt-in: ``ANIMEINTERP_ALLOCATOR=reuse`` makes the
``animeinterp`` command run inside it. The setting is process-wide, so it is scoped:
:func:`reuse_freed_memory` turns it on for a ``with`` block and, when the last block exits, turns
mmap back on and gives the heap's free pages back to the kernel (``malloc_trim``). The ComfyUI
nodes never use it (the server's process is shared with other packs). Elsewhere (macOS, Windows,
musl) it does nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import platform
import threading
from collections.abc import Iterator

from .errors import InputError

ENV_ALLOCATOR = "ANIMEINTERP_ALLOCATOR"
"""``system`` (the default: leave the C allocator alone) or ``reuse`` (:func:`reuse_freed_memory`)."""
ALLOCATOR_CHOICES = ("reuse", "system")

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
GLIBC_MMAP_MAX = 65536
"""glibc's default for ``M_MMAP_MAX``."""
GLIBC_TRIM_THRESHOLD = 128 * 1024
"""glibc's default for ``M_TRIM_THRESHOLD``."""
KEEP_ALL = 2**31 - 1
"""Trim threshold that keeps every freed byte in the heap (``mallopt`` takes a C ``int``)."""

_lock = threading.Lock()
_active = 0


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has ``mallopt`` and ``malloc_trim``), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist)
    except (OSError, AttributeError):
        return None
    return libc


def allocator_choice(environ: dict | None = None) -> str:
    """:data:`ENV_ALLOCATOR` from the environment (default ``system``); InputError for anything else."""
    environ = os.environ if environ is None else environ
    value = environ.get(ENV_ALLOCATOR, "system").strip().lower() or "system"
    if value not in ALLOCATOR_CHOICES:
        raise InputError(f"{ENV_ALLOCATOR}={value!r}: expected one of {', '.join(ALLOCATOR_CHOICES)}")
    return value


@contextlib.contextmanager
def reuse_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Keep freed memory in the C heap for reuse inside the block (yields whether it is on).

    Nested and concurrent blocks are counted; the last to exit restores glibc's defaults for
    ``M_MMAP_MAX`` and ``M_TRIM_THRESHOLD`` and calls ``malloc_trim(0)``. Does nothing (yields
    False) when ``enabled`` is false or the C library is not glibc.
    """
    global _active
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        if _active == 0:
            libc.mallopt(M_MMAP_MAX, 0)
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_ALL)
        _active += 1
    try:
        yield True
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                libc.mallopt(M_MMAP_MAX, GLIBC_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, GLIBC_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def is_reusing() -> bool:
    """Whether a :func:`reuse_freed_memory` block is active in this process."""
    return _active > 0
