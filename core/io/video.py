"""Reading frames from image folders or video files in bounded memory, and writing them atomically.

Readers yield one frame at a time (``uint8`` RGB ``(H, W, 3)``), so a whole clip never has to fit in
memory. Unreadable or inconsistent frames (a corrupt file, a frame of another size) are skipped,
logged as warnings and listed in :attr:`FrameReader.skipped`; the index of every yielded frame is
its position in the source, so timing survives a skipped frame. Writers put data under a temporary
name next to the target and rename it when complete: an interrupted run leaves no half file.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import DataError, InputError
from .images import to_rgb_uint8

if TYPE_CHECKING:
    from typing_extensions import Self

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv"})


@dataclass(frozen=True)
class Skipped:
    """A file or frame that was left out, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def natural_key(name: str) -> list:
    """Sort key that orders ``frame2`` before ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def is_video_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder``, in natural order."""
    return sorted((p for p in Path(folder).iterdir() if is_image_file(p)), key=lambda p: natural_key(p.name))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image as ``uint8`` RGB ``(H, W, 3)``.

    Grey is replicated, alpha is composited over white, 16-bit images are scaled to 8 bits.
    Non-ASCII paths work (the file is decoded from memory).

    Raises:
        DataError: the file is missing, not an image, or unusable.
    """
    p = Path(path)
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{p}: cannot be read ({e.strerror or e})") from e
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise DataError(f"{p}: not a readable image")
    if img.dtype == np.uint16:
        img = ((img.astype(np.float32) / 257.0) + 0.5).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img.astype(np.float32), 0, 1)  # float EXR/TIFF: assume [0, 1]
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    try:
        return to_rgb_uint8(img, str(p))
    except InputError as e:
        raise DataError(str(e)) from e


def write_image(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write ``uint8`` RGB ``(H, W, 3)`` atomically; the format follows the extension."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(p.suffix or ".png", cv2.cvtColor(to_rgb_uint8(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {p}")
    tmp = p.with_name(f".{p.name}.tmp")
    buf.tofile(str(tmp))
    os.replace(tmp, p)
    return p


class FrameReader:
    """Iterate the frames of an image folder or a video file: ``for index, rgb in reader``.

    Attributes:
        path: the source. kind: ``"images"`` or ``"video"``.
        fps: frames per second of a video (``None`` for image folders).
        skipped: frames left out while iterating (see the module docstring).
        decoded: source positions visited so far (after a full pass: the frames a video really
            holds, which may be fewer than ``len()``, its header's count).
        warn: log each skipped frame (a caller that reports :attr:`skipped` itself passes False).
    """

    def __init__(self, path: str | os.PathLike, warn: bool = True):
        self.path = Path(path)
        self.warn = warn
        self.decoded = 0
        self.skipped: list[Skipped] = []
        self.fps: float | None = None
        if self.path.is_dir():
            self.kind = "images"
            self._files = list_images(self.path)
            if not self._files:
                raise DataError(f"{self.path}: no image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        elif is_video_file(self.path):
            self.kind = "video"
            cap = cv2.VideoCapture(str(self.path))
            try:
                if not cap.isOpened():
                    raise DataError(f"{self.path}: OpenCV cannot open this video")
                fps = cap.get(cv2.CAP_PROP_FPS)
                self.fps = float(fps) if fps and fps > 0 else None
                self._count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            finally:
                cap.release()
        elif self.path.exists():
            raise DataError(f"{self.path}: neither a folder of images nor a video "
                            f"({', '.join(sorted(VIDEO_EXTENSIONS))})")
        else:
            raise DataError(f"{self.path}: no such file or folder")

    def __len__(self) -> int:
        """Number of frames (for videos, the container's estimate)."""
        return len(self._files) if self.kind == "images" else self._count

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))
        if self.warn:
            log.warning("skipped %s: %s", name, reason)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        size: tuple[int, int] | None = None
        for index, name, frame in self._raw():
            if frame is None:
                continue
            if size is None:
                size = frame.shape[:2]
            elif frame.shape[:2] != size:
                self._skip(name, f"size {frame.shape[1]}x{frame.shape[0]} differs from the first frame's "
                                 f"{size[1]}x{size[0]}")
                continue
            yield index, frame

    def select(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, rgb)`` of the given source indices only, in increasing order (frames found by an
        earlier pass): an image folder reads just those files; a video is decoded up to the last
        one, converting only those (``grab`` steps over the others). A missing index is a DataError.
        """
        wanted = sorted(set(indices))
        if self.kind == "images":
            for i in wanted:
                if not 0 <= i < len(self._files):
                    raise DataError(f"{self.path}: no frame {i} (it holds {len(self._files)})")
                yield i, read_image(self._files[i])
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            position = 0
            for i in wanted:
                while position < i and cap.grab():
                    position += 1
                ok, bgr = cap.read() if position == i else (False, None)
                if not ok:
                    raise DataError(f"{self.path}: the video ended before frame {i}")
                position += 1
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()

    def _raw(self) -> Iterator[tuple[int, str, np.ndarray | None]]:
        if self.kind == "images":
            for index, f in enumerate(self._files):
                self.decoded = index + 1
                try:
                    yield index, f.name, read_image(f)
                except DataError as e:
                    self._skip(f.name, str(e).removeprefix(f"{f}: "))
                    yield index, f.name, None
            return
        cap = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                self.decoded = index + 1
                yield index, f"{self.path.name}#{index}", cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            cap.release()


def open_frames(path: str | os.PathLike) -> FrameReader:
    """A :class:`FrameReader` for an image folder or a video file."""
    return FrameReader(path)


class VideoWriter:
    """Write RGB frames to a video file atomically: ``with VideoWriter(path, fps) as w: w.write(rgb)``.

    The file appears under its name only when the block exits without an exception.
    ``codec`` is a FourCC understood by OpenCV's FFmpeg backend (``"mp4v"`` works everywhere;
    ``"FFV1"`` in ``.mkv``/``.avi`` is lossless).
    """

    def __init__(self, path: str | os.PathLike, fps: float, codec: str = "mp4v"):
        if fps <= 0:
            raise InputError(f"fps must be positive, got {fps}")
        if len(codec) != 4:
            raise InputError(f"codec must be a four-character code, got {codec!r}")
        self.path = Path(path)
        self.fps = float(fps)
        self.codec = codec
        self._tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames_written = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = to_rgb_uint8(rgb)
        h, w = frame.shape[:2]
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*self.codec), self.fps, (w, h))
            if not self._writer.isOpened():
                raise OSError(f"OpenCV cannot write {self.path.suffix} video with codec {self.codec}")
            self._size = (h, w)
        elif (h, w) != self._size:
            raise InputError(f"frame {self.frames_written}: {w}x{h} differs from the video size "
                             f"{self._size[1]}x{self._size[0]}")
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self, commit: bool = True) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if commit and self.frames_written:
            os.replace(self._tmp, self.path)
        elif self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(commit=exc_type is None)


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float, codec: str = "mp4v") -> int:
    """Write frames to a video atomically; return the number of frames written."""
    with VideoWriter(path, fps, codec) as w:
        for f in frames:
            w.write(f)
    return w.frames_written


def write_frames(folder: str | os.PathLike, frames: Iterable[np.ndarray], pattern: str = "frame_{:06d}.png",
                 start: int = 0) -> int:
    """Write frames as numbered images (each atomically); return the count."""
    n = 0
    for n, f in enumerate(frames, start=1):
        write_image(Path(folder) / pattern.format(start + n - 1), f)
    return n
