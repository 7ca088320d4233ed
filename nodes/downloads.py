"""A weight download shown on the running node's progress bar.

``core.weights`` downloads into a ``.staging-*`` folder inside the cache folder (inside ComfyUI:
``models/animeinterp``) before verifying and moving the file into place; the bar follows the bytes
that arrive there.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .comfy_env import ProgressBar

T = TypeVar("T")
POLL_S = 0.25
UNKNOWN_SIZE = 100 << 20
"""Bar length when the manifest does not know the size (the bar then stops short of the end)."""


def staged_bytes(cache_dir: Path) -> int:
    """Bytes written so far into the download staging folders of ``cache_dir``."""
    total = 0
    for folder in cache_dir.glob(".staging-*"):
        for f in folder.rglob("*"):
            try:
                if f.is_file():
                    total += f.stat().st_size
            except OSError:  # moved or removed meanwhile
                pass
    return total


def with_progress(fetch: Callable[[], T], cache_dir: Path, expected: int | None,
                  poll_s: float = POLL_S) -> T:
    """Run ``fetch`` (a download into ``cache_dir``) on a thread; move a progress bar (in MB) by the
    bytes staged until it returns; return its result or raise its error."""
    size = expected or UNKNOWN_SIZE
    bar = ProgressBar(max(1, size >> 20))
    done = threading.Event()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fetch()
        except BaseException as e:  # noqa: BLE001 - re-raised on the caller's thread
            outcome["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name="animeinterp-download", daemon=True).start()
    while not done.wait(poll_s):
        bar.update_absolute(min(staged_bytes(cache_dir), size) >> 20)
    if "error" in outcome:
        raise outcome["error"]
    bar.update_absolute(bar.total)
    return outcome["value"]
