"""Load a clip (a folder of frames or a video) as an IMAGE batch.

ComfyUI's own image loaders take single files; this one reads a whole sequence in natural order
(``frame2`` before ``frame10``), skipping unreadable frames with a warning (``core.io.video``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..core.errors import DataError, InputError
from ..core.io.video import FrameReader, is_image_file
from .node_support import ImageBatchWriter
from .path_policy import input_path
from .progress import progress_step

DEFAULT_FPS = 24.0


def resolve_clip_path(path: str, what: str = "path") -> Path:
    """The clip a widget names: inside ComfyUI, relative to its input folder and confined to it (and
    the owner's ``ANIMEINTERP_ALLOWED_DIRS``) by :mod:`.path_policy`; outside, as given."""
    return input_path(path, what)


def check_loaded(name: str, reader: FrameReader, loaded: int, start: int) -> None:
    """Refuse a load that would silently give a different clip: frames of another size (named), or
    nothing loaded (every file unreadable, or ``start`` past the end), with counts.

    Raises:
        InputError: what happened, naming the frames.
    """
    other_size = [s for s in reader.skipped if s.reason.startswith("size ")]
    if other_size:
        shown = "; ".join(str(s) for s in other_size[:5]) + ("; ..." if len(other_size) > 5 else "")
        raise InputError(f"{name}: {len(other_size)} frame(s) differ in size from the first: {shown}. "
                         "Resize them to one size or load the parts separately")
    if loaded:
        return
    unreadable = [s for s in reader.skipped if not s.reason.startswith("size ")]
    if unreadable and len(unreadable) == reader.decoded:
        raise InputError(f"{name}: none of its {len(unreadable)} files could be read "
                         f"(e.g. {unreadable[0]})")
    raise InputError(f"{name}: no frames to load: start {start} is at or past the last of its "
                     f"{reader.decoded - len(unreadable)} readable frames")


class AnimeInterpLoadFrames:
    """Folder of frames or video -> IMAGE batch + fps + frame count."""

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "path": ("STRING", {"default": "frames", "tooltip": (
                    "A folder of images (natural order) or a video file; relative to ComfyUI's input "
                    "folder.")}),
                "start": ("INT", {"default": 0, "min": 0, "max": 10_000_000,
                                  "tooltip": "First frame to load."}),
                "max_frames": ("INT", {"default": 0, "min": 0, "max": 100_000, "tooltip": (
                    "At most this many frames (0 = all). Long clips: use the CLI, which streams.")}),
                "fps": ("FLOAT", {"default": DEFAULT_FPS, "min": 1.0, "max": 480.0, "step": 0.001,
                                  "tooltip": (
                    "Frame rate of a folder of frames (a video's own rate is used instead).")}),
            }
        }

    RETURN_TYPES = ("IMAGE", "FLOAT", "INT")
    RETURN_NAMES = ("images", "fps", "count")
    FUNCTION = "load"
    CATEGORY = "AnimeInterp"
    DESCRIPTION = "Load an image sequence or a video as one IMAGE batch (natural file order)."

    # ComfyUI reports a VALIDATE_INPUTS error once per input the method declares: declare only the
    # one it cannot check itself; ranges and lists are ComfyUI's, the rest is checked at run time.
    @classmethod
    def VALIDATE_INPUTS(cls, path=None):
        return cls.check_inputs(path=path)

    @classmethod
    def check_inputs(cls, path=None, start=None, max_frames=None, fps=None):
        """True, or what is wrong with these widget values (None = not given)."""
        if path is not None:
            try:
                resolve_clip_path(path)
            except InputError as e:
                return str(e)
        if start is not None and int(start) < 0:
            return "start must be >= 0"
        if max_frames is not None and int(max_frames) < 0:
            return "max_frames must be >= 0 (0 = all)"
        if fps is not None and float(fps) <= 0:
            return "fps must be positive"
        return True

    @classmethod
    def IS_CHANGED(cls, path, **_):
        """Changes when the files do (names, sizes, modification times)."""
        try:
            p = resolve_clip_path(path)
        except InputError:
            return ""
        files = sorted(f for f in p.iterdir() if is_image_file(f)) if p.is_dir() else [p]
        digest = hashlib.sha256()
        for f in files:
            st = f.stat()
            digest.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns};".encode())
        return digest.hexdigest()

    def load(self, path, start=0, max_frames=0, fps=DEFAULT_FPS):
        problem = self.check_inputs(None, start, max_frames, fps)
        if problem is not True:
            raise InputError(problem)
        source = resolve_clip_path(path)
        try:
            reader = FrameReader(source)
        except DataError as e:
            raise InputError(str(e)) from e
        total = max(len(reader) - start, 0)
        if max_frames:
            total = min(total, max_frames)
        frames: list[np.ndarray] = []
        step = progress_step(max(total, 1))
        for position, (_, frame) in enumerate(reader):
            if position < start:
                continue
            if max_frames and len(frames) >= max_frames:
                break
            frames.append(frame)
            step(len(frames), max(total, len(frames)))
        check_loaded(source.name, reader, len(frames), start)
        h, w = frames[0].shape[:2]
        out = ImageBatchWriter(len(frames), h, w)
        for i in range(len(frames)):
            out.add(frames[i])
            frames[i] = None  # free each uint8 copy as soon as it is in the batch
        return (out.result(), float(reader.fps or fps), out.written)


NODES = {"AnimeInterpLoadFrames": (AnimeInterpLoadFrames, "Load Frames / Video (AnimeInterp)")}
