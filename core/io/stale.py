"""Sweep our own stale temporaries from the folder a run writes (an interrupted or killed run's).

Only names that our writers create are ever touched, and only in the folder being written:

- ``.frame_NNNNNN.EXT.tmp`` (:func:`.video.write_image`) inside a folder ``OUT``;
- ``.OUT.staging-*`` folders (:class:`.output.FolderSink`) beside ``OUT``, and those of other
  outputs in the same folder when older than :data:`STALE_AFTER_S` and their lock is not held;
- ``.STEM.tmpSUFFIX`` (:class:`.video.VideoWriter`) and ``.STEM.probe-PID.SUFFIX``
  (:func:`.output.probe_video_writer`) beside a video ``OUT``;
- ``.step_N.pt.PID.tmp`` (``core.train.checkpoint``) whose process is gone.

Call :func:`sweep_output` while holding ``OUT``'s lock: no other run can then be using these names.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

FRAME_TMP_RE = re.compile(r"^\.frame_\d{6}\.(png|jpg|jpeg|webp|bmp|tif|tiff)\.tmp$")
CHECKPOINT_TMP_RE = re.compile(r"^\.step_\d+\.pt\.(\d+)\.tmp$")
STAGING_RE = re.compile(r"^\.(?P<name>.+)\.staging-[A-Za-z0-9_]+$")
STALE_AFTER_S = 6 * 3600
"""A staging folder of another output is left alone unless untouched this long (and unlocked)."""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (one we may not signal counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def lock_held(lock: Path) -> bool:
    """Whether another process holds the advisory lock on ``lock`` (False if there is no such file)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no advisory locks; count as held (keep)
        return True
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # closing releases a lock taken here
    return False


def _remove(p: Path, removed: list[Path]) -> None:
    try:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
    except OSError:  # gone already, or not ours to remove: leave it
        return
    removed.append(p)


def sweep_output(path: Path, kind: str, work_dir: Path | None = None) -> list[Path]:
    """Remove stale temporaries of ``OUT`` = ``path`` (``kind`` ``"folder"`` or ``"video"``) from
    ``OUT`` itself and from ``work_dir`` (where staging folders go; default ``OUT``'s parent).
    Call under ``OUT``'s lock. Returns what was removed."""
    removed: list[Path] = []
    work = work_dir or path.parent
    if kind == "folder" and path.is_dir():
        for p in path.iterdir():
            if FRAME_TMP_RE.match(p.name) and p.is_file():
                _remove(p, removed)
    if not work.is_dir():
        return removed
    staging = f".{path.name}.staging-"
    video_tmp = f".{path.stem}.tmp{path.suffix}"
    probe = re.compile(rf"^\.{re.escape(path.stem)}\.probe-(\d+){re.escape(path.suffix)}$")
    now = time.time()
    for p in work.iterdir():
        if kind == "folder" and p.name.startswith(staging) and p.is_dir():
            _remove(p, removed)
        elif (m := STAGING_RE.match(p.name)) and p.is_dir() and not p.is_symlink():
            try:
                old = now - p.stat().st_mtime > STALE_AFTER_S
            except OSError:
                continue
            if old and not lock_held(work / f".{m['name']}.lock"):
                _remove(p, removed)
        elif kind == "video" and ((p.name == video_tmp and p.is_file())
                                  or ((m := probe.match(p.name)) and not pid_alive(int(m[1])))):
            _remove(p, removed)
    return removed


def sweep_checkpoint_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove ``.step_N.pt.PID.tmp`` files in ``folder`` whose writing process is gone."""
    removed: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = CHECKPOINT_TMP_RE.match(p.name)
        if m and p.is_file() and int(m[1]) != os.getpid() and not pid_alive(int(m[1])):
            _remove(p, removed)
    return removed
