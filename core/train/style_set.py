"""The style set: the studio's own frames as random-access training triplets.

Accepted sources (:func:`open_style_set`):

* a folder of triplet folders — the ATD-12K training layout ``<name>/frame1.*, frame2.*, frame3.*``
  (an optional ``triplet.json`` with ``{"t": ...}`` gives the middle frame's time, default 0.5);
* an image sequence, a video file, or a folder of them — cut into triplets of three consecutive
  *distinct* drawings by :mod:`..sequence` (held drawings never form a triplet, no triplet crosses a
  scene cut) and written once as triplet folders under the run's work folder;
* ``synthetic[:COUNT][:WxH]`` — synthetic cartoons (tests and demos);
* in memory, a list of frames (:func:`write_frame_triplets`, used by the ComfyUI node).

Every triplet is read once before training (:meth:`StyleSet.scan`): unreadable files, frames of
different sizes, and triplets whose consecutive frames show the same drawing are skipped with a
logged warning and listed in :attr:`StyleSet.skipped`. A set with nothing usable raises
:class:`..errors.DataError` before any training starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..clip.drawings import SequenceOptions, iter_drawings, iter_triplets, same_drawing, signature
from ..data.triplets import (
    SequenceDataset,
    SyntheticDataset,
    TripletFolderDataset,
    export_triplets,
    open_dataset,
)
from ..errors import DataError, InputError
from ..io.images import to_rgb_uint8
from ..io.video import Skipped, is_image_file, natural_key, read_image, write_image

log = logging.getLogger(__name__)
DEFAULT_SEQUENCE_OPTIONS = SequenceOptions()
"""Held-drawing and cut thresholds by default (SequenceOptions is frozen: one instance serves all)."""

TRIPLETS_FOLDER = "style_triplets"
"""Sub-folder of the work folder where sequences/videos/frames are written as triplet folders."""
_SOURCE_RECORD = "source.json"
_FRAME_PREFERENCE = (".png", ".bmp", ".tif", ".tiff", ".webp", ".jpg", ".jpeg")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class StyleTriplet:
    """One training triplet on disk: ``frame1`` (t = 0), ``frame2`` (the target at ``t``), ``frame3``."""

    name: str
    paths: tuple[str, str, str]
    t: float = 0.5

    def load(self) -> list[np.ndarray]:
        """The three frames, ``uint8`` RGB ``(H, W, 3)`` (:class:`DataError` if unreadable)."""
        return [read_image(p) for p in self.paths]


@dataclass
class StyleSet:
    """Random-access triplets plus what was left out and why.

    Attributes:
        description: one line saying where the triplets come from.
        triplets: usable triplets, in natural order of their names.
        sizes: ``(W, H)`` of each triplet's frames (filled by :meth:`scan`).
        from_sequences: True when the triplets were cut from sequences (neighbours share frames).
    """

    description: str
    triplets: list[StyleTriplet]
    from_sequences: bool = False
    skipped: list[Skipped] = field(default_factory=list)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def scan(self, progress: Progress | None = None) -> StyleSet:
        """Read every triplet once; drop unusable ones (warnings); :class:`DataError` if none is left."""
        usable = []
        for i, item in enumerate(self.triplets):
            reason = _problem(item)
            if isinstance(reason, str):
                self._skip(item.name, reason)
            else:
                usable.append(item)
                self.sizes[item.name] = reason
            if progress is not None:
                progress(i + 1, len(self.triplets))
        self.triplets = usable
        self.require_usable()
        return self

    def require_usable(self) -> None:
        if not self.triplets:
            detail = f" Skipped: {'; '.join(map(str, self.skipped))}" if self.skipped else ""
            raise DataError(f"{self.description}: no usable triplets for fine-tuning.{detail}")

    def split(self, val_fraction: float, val_max: int) -> tuple[list[StyleTriplet], list[StyleTriplet]]:
        """``(train, validation)``: the last ``min(val_max, round(val_fraction · n))`` triplets
        (at least one when ``val_fraction > 0`` and ``n >= 2``) validate. For triplets cut from
        sequences, the two triplets before the validation block are left out of both, so no frame
        is shared between the splits."""
        n = len(self.triplets)
        k = min(int(val_max), round(val_fraction * n))
        if val_fraction > 0 and n >= 2:
            k = max(k, 1)
        gap = 2 if self.from_sequences else 0
        if k == 0 or n - k - gap < 1:
            if val_fraction > 0:
                log.warning(
                    "%s: too few triplets (%d) for a validation split; validating on none",
                    self.description,
                    n,
                )
            return list(self.triplets), []
        return list(self.triplets[: n - k - gap]), list(self.triplets[n - k :])

    def fingerprint(self, items: Iterable[StyleTriplet] | None = None) -> str:
        """SHA-256 over names, times and sizes: changes when the set changes (resume check)."""
        items = self.triplets if items is None else items
        text = json.dumps([[it.name, it.t, self.sizes.get(it.name)] for it in items])
        return hashlib.sha256(text.encode()).hexdigest()

    def summary(self) -> dict:
        return {
            "description": self.description,
            "triplets": len(self.triplets),
            "skipped": len(self.skipped),
            "skipped_items": [str(s) for s in self.skipped[:20]],
        }

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))
        log.warning("style set: skipped %s: %s", name, reason)


def open_style_set(
    source: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    options: SequenceOptions = DEFAULT_SEQUENCE_OPTIONS,
    max_timing_skew: float | None = 0.1,
    write: bool = True,
) -> StyleSet:
    """Open a style folder (see the module docstring); sequences/videos are cut into triplet folders
    under ``work_dir/style_triplets`` once (reused while the source is unchanged).

    Args:
        write: False on secondary distributed processes: use the triplets the main process wrote.

    Raises:
        DataError: nothing usable at ``source`` (the message says what was found).
    """
    dataset = open_dataset(source, options=options, max_timing_skew=max_timing_skew)
    if isinstance(dataset, TripletFolderDataset):
        style = _from_folder(dataset.root, dataset.description)
        style.skipped.extend(dataset.skipped)
        return style
    if isinstance(dataset, (SequenceDataset, SyntheticDataset)):
        folder = Path(work_dir) / TRIPLETS_FOLDER
        record = {
            "source": os.fspath(Path(source).resolve())
            if not str(source).startswith("synthetic")
            else str(source),
            "stamp": _source_stamp(source),
            "max_timing_skew": max_timing_skew,
            "options": repr(options),
        }
        if write and _read_record(folder) != record:
            _clear_triplets(folder)
            count = export_triplets(dataset, folder)
            _write_record(folder, record)
            log.info("cut %d triplets from %s into %s", count, source, folder)
        elif _read_record(folder) != record:
            raise DataError(f"{folder}: the triplets of {source} have not been written (main process)")
        style = _from_folder(
            folder,
            dataset.description,
            skipped=list(dataset.skipped),
            from_sequences=isinstance(dataset, SequenceDataset),
        )
        return style
    raise DataError(f"{source}: unsupported style set ({dataset.description})")


def write_frame_triplets(
    frames: list[np.ndarray],
    folder: str | os.PathLike,
    *,
    options: SequenceOptions = DEFAULT_SEQUENCE_OPTIONS,
    max_timing_skew: float | None = 0.1,
) -> int:
    """Cut an in-memory frame sequence into triplets of distinct drawings and write them as triplet
    folders (``frame{1,2,3}.png`` + ``triplet.json``) into ``folder``, replacing what was there.

    Returns the number of triplets (:class:`DataError` if none: fewer than three distinct drawings).
    """
    frames = [to_rgb_uint8(f, f"frame {i}") for i, f in enumerate(frames)]
    if len({f.shape for f in frames}) > 1:
        raise InputError("all frames of a style sequence must have the same size")
    folder = Path(folder)
    record = {
        "source": "frames",
        "stamp": _frames_digest(frames),
        "max_timing_skew": max_timing_skew,
        "options": repr(options),
    }
    if _read_record(folder) == record:
        return sum(1 for p in folder.iterdir() if p.is_dir())
    _clear_triplets(folder)
    count = 0
    for tri in iter_triplets(iter_drawings(frames, options), max_timing_skew):
        name = f"frames_f{tri.first.start:05d}-{tri.middle.start:05d}-{tri.last.start:05d}"
        for i, drawing in enumerate((tri.first, tri.middle, tri.last), start=1):
            write_image(folder / name / f"frame{i}.png", drawing.frame)
        (folder / name / "triplet.json").write_text(json.dumps({"t": tri.t}), encoding="utf-8")
        count += 1
    if count == 0:
        raise DataError(
            f"the {len(frames)} frames hold no triplet of three consecutive distinct drawings "
            "of one shot (held frames and scene cuts are left out)"
        )
    _write_record(folder, record)
    return count


# ---------------------------------------------------------------------------------------------- helpers
def _from_folder(
    root: Path, description: str, skipped: list[Skipped] | None = None, from_sequences: bool = False
) -> StyleSet:
    style = StyleSet(description, [], from_sequences=from_sequences, skipped=list(skipped or []))
    for folder in sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    ):
        files = frame_files(folder)
        if not files:
            continue
        missing = [f"frame{i}" for i in (1, 2, 3) if i not in files]
        if missing:
            continue  # TripletFolderDataset already listed it as skipped
        t = _read_time(folder)
        if isinstance(t, str):
            style._skip(folder.name, t)
            continue
        style.triplets.append(StyleTriplet(folder.name, tuple(os.fspath(files[i]) for i in (1, 2, 3)), t))
    style.require_usable()
    return style


def frame_files(folder: Path) -> dict[int, Path]:
    """``{1: path, 2: path, 3: path}`` for ``frame{1,2,3}.<image ext>`` (lossless formats first)."""
    found: dict[int, Path] = {}
    candidates = [
        p for p in folder.iterdir() if is_image_file(p) and p.stem.lower() in ("frame1", "frame2", "frame3")
    ]
    for p in sorted(
        candidates,
        key=lambda p: (
            _FRAME_PREFERENCE.index(p.suffix.lower())
            if p.suffix.lower() in _FRAME_PREFERENCE
            else len(_FRAME_PREFERENCE)
        ),
    ):
        found.setdefault(int(p.stem[-1]), p)
    return found


def _read_time(folder: Path) -> float | str:
    """``t`` from ``triplet.json`` (0.5 if absent), or a reason string if it is unusable."""
    path = folder / "triplet.json"
    if not path.is_file():
        return 0.5
    try:
        t = float(json.loads(path.read_text(encoding="utf-8"))["t"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"unreadable triplet.json ({e})"
    if not 0 < t < 1:
        return f"triplet.json: t = {t} is not strictly between 0 and 1"
    return t


def _problem(item: StyleTriplet) -> str | tuple[int, int]:
    """Why a triplet cannot be used, or its ``(W, H)`` if it can."""
    try:
        frames = item.load()
    except DataError as e:
        return str(e)
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) != 1:
        listed = ", ".join(f"{f.shape[1]}x{f.shape[0]}" for f in frames)
        return f"the three frames differ in size ({listed})"
    sigs = [signature(f) for f in frames]
    if same_drawing(sigs[0], sigs[1]) or same_drawing(sigs[1], sigs[2]):
        return "held drawing: two consecutive frames show the same drawing"
    h, w = frames[0].shape[:2]
    return w, h


def _source_stamp(source: str | os.PathLike) -> list:
    """Names, sizes and modification times of what is at ``source`` (detects a changed source)."""
    if str(source).startswith("synthetic"):
        return [str(source)]
    p = Path(source)
    files = [p] if p.is_file() else sorted((f for f in p.rglob("*") if f.is_file()), key=lambda f: str(f))
    return [
        [str(f.relative_to(p)) if f != p else f.name, f.stat().st_size, int(f.stat().st_mtime)] for f in files
    ]


def _frames_digest(frames: list[np.ndarray]) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(str(f.shape).encode())
        h.update(np.ascontiguousarray(f).tobytes())
    return h.hexdigest()


def _read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _SOURCE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_record(folder: Path, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{_SOURCE_RECORD}.tmp"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, folder / _SOURCE_RECORD)


def _clear_triplets(folder: Path) -> None:
    """Remove triplet folders we wrote earlier (only ``frame*.png`` and ``triplet.json`` files)."""
    if not folder.is_dir():
        return
    (folder / _SOURCE_RECORD).unlink(missing_ok=True)
    for sub in folder.iterdir():
        if sub.is_dir():
            for f in sub.iterdir():
                if f.name in ("frame1.png", "frame2.png", "frame3.png", "triplet.json"):
                    f.unlink()
            if not any(sub.iterdir()):
                sub.rmdir()
