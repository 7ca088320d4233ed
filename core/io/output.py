"""Where ``animeinterp interpolate`` writes: checked before any work, locked, staged, swapped in whole.

The life of an output (``OUT``, a folder of frames or a video file):

1. :func:`check_output` (nothing left changed): the kind of ``OUT`` from its name, ``OUT`` is not
   an input, the nearest existing folder above it can be written to, an existing ``OUT`` needs
   ``--overwrite``;
2. :meth:`OutputTarget.lock`: an exclusive lock (``.NAME.lock`` beside ``OUT``, ``fcntl.flock``) so
   that a second run into the same ``OUT`` is refused instead of silently mixing frames; the checks
   are repeated under the lock;
3. :meth:`OutputTarget.open_sink`: a video's codec is probed with a tiny test file (so an
   unsupported codec fails before any frame is computed); frames go to a staging folder beside
   ``OUT``;
4. ``sink.close(commit=True)`` puts the new output in place only once it is complete (a renamed
   folder, frames moved in by ``os.replace``, or a renamed video); on failure the staging is
   deleted and an existing ``OUT`` is untouched. A Ctrl-C keeps the finished frames when ``OUT``
   did not exist before (it never replaces an existing output).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .video import VIDEO_EXTENSIONS

FRAME_NAME = "frame_{:06d}.{ext}"
FRAME_RE = re.compile(r"^frame_\d{6}\.(png|jpg|jpeg|webp|bmp|tif|tiff)$")
"""Names of the frames we write (and the only files ``--overwrite`` replaces in a folder)."""

UNWRITABLE_VIDEO = {".gif": "OpenCV cannot write GIF animations"}
"""Video extensions refused up front, with the reason."""


@dataclass
class OutputTarget:
    """A checked output: ``kind`` is ``"folder"`` or ``"video"``."""

    path: Path
    kind: str
    overwrite: bool
    work_dir: Path | None = None
    """Where the lock and the staging folder go: OUT's parent, or (an existing folder OUT whose
    parent is read-only) OUT itself."""
    _lock_fd: int | None = field(default=None, repr=False)
    _created: list[Path] = field(default_factory=list, repr=False)

    @property
    def lock_path(self) -> Path:
        if self.work_dir is not None and self.work_dir != self.path.parent:
            return self.work_dir / ".animeinterp.lock"
        return self.path.parent / f".{self.path.name}.lock"

    def lock(self) -> None:
        """Create missing parent folders and take the exclusive lock on ``OUT``.

        Raises:
            InputError: another run holds the lock, or the lock cannot be created.
        """
        self._make_parents()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, the checks still apply
            return
        while True:
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise InputError(f"cannot create the lock file {self.lock_path}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InputError(
                    f"{self.path} is being written by another animeinterp run (lock {self.lock_path.name}); "
                    "wait for it to finish or choose another OUT"
                ) from None
            # a finishing run unlinks the file before unlocking: lock the file that is at the path now
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path))
            except FileNotFoundError:
                same = False
            if same:
                os.write(fd, f"{os.getpid()}\n".encode())
                self._lock_fd = fd
                return
            os.close(fd)

    def unlock(self) -> None:
        """Release the lock (removing the lock file) and folders :meth:`lock` created if still empty."""
        if self._lock_fd is not None:
            self.lock_path.unlink(missing_ok=True)
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:  # not empty (the output is there) or gone
                break
        self._created = []

    def _make_parents(self) -> None:
        missing = []
        parent = self.path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise InputError(f"cannot create the folder {folder}: {e.strerror or e}") from None
            self._created.append(folder)

    def open_sink(self, ext: str, fps: float, codec: str) -> FolderSink | VideoSink:
        """The sink the frames go to (call under :meth:`lock`, after the checks)."""
        check_existing(self.path, self.kind, self.overwrite)
        if self.kind == "video":
            probe_video_writer(self.path, fps, codec)
            return VideoSink(self.path, fps, codec)
        return FolderSink(self.path, ext, self.work_dir or self.path.parent)


def check_output(out: str, inputs: list[str], overwrite: bool) -> OutputTarget:
    """Check ``OUT`` before any work (nothing is left changed; writability is probed with a temporary
    file).

    Raises:
        InputError: ``OUT`` is an input, has an unknown extension, is a video format OpenCV cannot
            write, lies below a file, cannot be written, or exists without ``overwrite``.
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix in UNWRITABLE_VIDEO:
        raise InputError(f"{path}: {UNWRITABLE_VIDEO[suffix]}; write .mp4/.mkv/.avi or a folder of frames "
                         "and convert it afterwards (e.g. with ffmpeg)")
    if suffix in VIDEO_EXTENSIONS:
        kind = "video"
    elif path.is_dir() or out.endswith(("/", os.sep)) or not suffix:
        kind = "folder"
    else:
        raise InputError(
            f"{path}: unknown OUT extension {path.suffix!r}; OUT is a folder (no extension, or end it with / "
            f"for a new folder whose name has a dot; the image format is --ext) or a video "
            f"({', '.join(sorted(VIDEO_EXTENSIONS - set(UNWRITABLE_VIDEO)))})"
        )
    for given in inputs:
        if _same_path(Path(given), path):
            raise InputError(f"OUT {path} is the input {given}; choose another OUT")
    work_dir = check_writable(path, inside_ok=kind == "folder")
    check_existing(path, kind, overwrite)
    return OutputTarget(path, kind, overwrite, work_dir)


def check_writable(path: Path, inside_ok: bool = False) -> Path:
    """``path`` can be created or replaced: the nearest existing folder above it is a writable folder
    (or, with ``inside_ok``, ``path`` is an existing writable folder). Returns that folder.

    Raises:
        InputError: a file stands where a folder is needed, or the folder is not writable.
    """
    if path.is_dir():
        _probe_write(path, f"{path} cannot be written")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"cannot create {path}: {parent} is a file, not a folder")
    try:
        _probe_write(parent, f"cannot write into {parent}")
    except InputError:
        if inside_ok and path.is_dir():
            return path
        raise
    return parent


def _probe_write(folder: Path, what: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".animeinterp-probe-", dir=folder)
    except OSError as e:
        raise InputError(f"{what}: {e.strerror or e}; choose another OUT or fix the permissions") from None
    os.close(fd)
    os.unlink(name)


def check_existing(path: Path, kind: str, overwrite: bool) -> None:
    """An existing ``OUT`` must be of its kind, and replacing it needs ``overwrite``."""
    if kind == "video":
        if path.is_dir():
            raise InputError(f"{path} is a folder; a video OUT must be a file")
        if path.exists() and not overwrite:
            raise InputError(f"{path} exists; choose another OUT or pass --overwrite")
        return
    if path.exists() and not path.is_dir():
        raise InputError(f"{path} exists and is not a folder")
    existing = [p for p in path.iterdir() if FRAME_RE.match(p.name)] if path.is_dir() else []
    if existing and not overwrite:
        raise InputError(f"{path} already holds {len(existing)} frames (frame_NNNNNN.*); "
                         "choose another OUT or pass --overwrite")


def probe_video_writer(path: Path, fps: float, codec: str) -> None:
    """Write a one-frame test video beside ``path`` (then delete it) to learn early whether OpenCV
    can write this container with this codec.

    Raises:
        InputError: the codec / container pair is not supported by the installed OpenCV.
    """
    import cv2

    if len(codec) != 4:
        raise InputError(f"--codec must be a four-character code, got {codec!r}")
    probe = path.with_name(f".{path.stem}.probe-{os.getpid()}{path.suffix}")
    try:
        with _quiet_stderr():  # OpenCV and FFmpeg print their own lines for an unsupported pair
            writer = cv2.VideoWriter(str(probe), cv2.VideoWriter_fourcc(*codec), fps, (64, 64))
            ok = writer.isOpened()
            if ok:
                writer.write(np.zeros((64, 64, 3), np.uint8))
            writer.release()
        ok = ok and probe.is_file() and probe.stat().st_size > 0
    finally:
        probe.unlink(missing_ok=True)
    if not ok:
        raise InputError(
            f"OpenCV cannot write {path.suffix} video with codec {codec}; try .mp4 with mp4v, .mkv with FFV1 "
            "(lossless) or .webm with VP80, or write a folder of frames"
        )


class FolderSink:
    """Numbered images written into a staging folder beside ``folder``, moved in when complete."""

    def __init__(self, folder: Path, ext: str, work_dir: Path | None = None):
        self.folder = folder
        self.ext = ext
        self.written = 0
        where = work_dir or folder.parent
        self.staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.staging-", dir=where))

    def write(self, rgb: np.ndarray) -> None:
        from . import video

        video.write_image(self.staging / FRAME_NAME.format(self.written, ext=self.ext), rgb)
        self.written += 1

    def close(self, commit: bool, keep_partial: bool = False) -> bool:
        """``commit``: put the frames in place of ``OUT``'s. ``keep_partial``: the run was interrupted;
        keep the finished frames if ``OUT`` did not exist. Otherwise discard them.
        Returns whether frames were put in place."""
        if not self.staging.exists():
            return False
        fresh = not self.folder.exists()
        if not (commit or (keep_partial and fresh and self.written)):
            shutil.rmtree(self.staging, ignore_errors=True)
            return False
        for p in self.staging.iterdir():  # an interrupted write's temporary file
            if not FRAME_RE.match(p.name):
                p.unlink()
        if fresh:
            os.rename(self.staging, self.folder)
            return True
        new = {p.name for p in self.staging.iterdir()}
        for name in sorted(new):
            os.replace(self.staging / name, self.folder / name)
        for p in self.folder.iterdir():  # the previous run's frames beyond the new count
            if FRAME_RE.match(p.name) and p.name not in new:
                p.unlink()
        self.staging.rmdir()
        return True


class VideoSink:
    """A video written under a temporary name and renamed over ``OUT`` when complete."""

    def __init__(self, path: Path, fps: float, codec: str):
        from .video import VideoWriter

        self._writer = VideoWriter(path, fps, codec)

    @property
    def written(self) -> int:
        return self._writer.frames_written

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(rgb)

    def close(self, commit: bool, keep_partial: bool = False) -> bool:
        """Rename the finished video over ``OUT`` (``commit``) or delete it; a partial video is never kept."""
        self._writer.close(commit=commit)
        return commit and self.written > 0


@contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null for the block (native libraries write there directly)."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False
