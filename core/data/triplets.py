"""Triplet data sets for evaluation and style fine-tuning: one iterator of triplets, four sources.

A *triplet* is three frames — ``frame1`` (t = 0), ``frame2`` (the ground truth at ``t``, 0.5 unless
the timing says otherwise) and ``frame3`` (t = 1) — with optional annotations. Sources:

* **ATD-12K test layout** (:func:`open_atd12k`): ``test_2k_540p/<name>/frame{1,2,3}.png`` (or
  ``test_2k_original/…jpg``) plus ``test_2k_annotations/<name>/<name>.json``. The annotation format
  is the one the public AnimeInterp/AFI test script reads::

      {"image_size": [W, H],                        # size the box refers to (the original frame)
       "motion_RoI": {"x": .., "y": .., "width": .., "height": ..},
       "level": 0 | 1 | 2}                          # 0 easy, 1 medium, 2 hard

  Other keys are ignored. The box is mapped to the evaluated size exactly like the original
  (``int(x // (image_size_W / W))`` …). Missing or malformed annotations are reported as warnings;
  such a triplet still counts in the "whole" columns.
* **Any folder of triplets** (:class:`TripletFolderDataset`): folders holding ``frame1.*``,
  ``frame2.*``, ``frame3.*`` (any common image format), directly below the root or nested a few
  levels (``source/clip/triplet``).
* **Frame sequences and videos** (:class:`SequenceDataset`): an image folder, a video file, or a
  folder of them; cut into triplets of three consecutive *distinct* drawings of one shot
  (:mod:`.sequence`): held frames never form a triplet, no triplet crosses a scene cut, and the
  middle drawing's time ``t`` comes from the timing.
* **Synthetic cartoons** (:class:`SyntheticDataset`): :func:`.synthetic.make_triplet` scenes with exact
  flows, for end-point errors of flow stages.

Every data set yields :class:`TripletEntry` s whose ``load()`` reads the frames only when asked, so
a run holds one triplet at a time. Unreadable or inconsistent items are skipped with a logged
warning and listed in ``dataset.skipped``; a set with nothing usable raises :class:`DataError`.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from ..clip.drawings import SequenceOptions, iter_drawings, iter_triplets
from ..errors import DataError
from ..io.video import (
    IMAGE_EXTENSIONS,
    FrameReader,
    Skipped,
    is_image_file,
    is_video_file,
    natural_key,
    read_image,
    write_image,
)

log = logging.getLogger(__name__)

LEVELS = ("easy", "medium", "hard")
"""ATD-12K difficulty levels, in the order of the annotation's ``level`` values 0, 1, 2."""

Size = tuple[int, int]
"""``(width, height)`` in pixels."""

DEFAULT_OPTIONS = SequenceOptions()


# ---------------------------------------------------------------------------------------------- triplets
@dataclass
class Triplet:
    """Three ``uint8`` RGB ``(H, W, 3)`` frames of one size and what is known about them.

    Attributes:
        t: time of ``frame2`` between ``frame1`` (0) and ``frame3`` (1).
        level: ``"easy"``, ``"medium"``, ``"hard"`` or ``None``.
        roi: motion region ``(x, y, w, h)`` in the coordinates of ``roi_image_size`` (``(W, H)``).
        flow_13, flow_31: exact flows ``(2, H, W)`` float32 in pixels (synthetic sets only).
    """

    name: str
    frame1: np.ndarray
    frame2: np.ndarray
    frame3: np.ndarray
    t: float = 0.5
    level: str | None = None
    roi: tuple[float, float, float, float] | None = None
    roi_image_size: Size | None = None
    flow_13: np.ndarray | None = None
    flow_31: np.ndarray | None = None

    @property
    def size(self) -> Size:
        return self.frame1.shape[1], self.frame1.shape[0]

    def roi_box(self) -> tuple[int, int, int, int] | None:
        """The RoI in this triplet's pixels, ``(x, y, w, h)``, mapped as the original test script did
        (floor division by the per-axis scale) and clipped to the frame; ``None`` if absent/empty."""
        if self.roi is None:
            return None
        width, height = self.size
        src_w, src_h = self.roi_image_size or (width, height)
        sw, sh = src_w / width, src_h / height
        x, y = int(self.roi[0] // sw), int(self.roi[1] // sh)
        w, h = int(self.roi[2] // sw), int(self.roi[3] // sh)
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(width, x + w), min(height, y + h)
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1 - x0, y1 - y0

    def resized(self, size: Size | None) -> Triplet:
        """This triplet at ``size`` ``(W, H)`` (PIL Lanczos, as the original data loader); flows are
        resized bilinearly and scaled per axis. ``None`` or the current size returns ``self``."""
        if size is None or tuple(size) == self.size:
            return self
        from PIL import Image

        def img(a: np.ndarray) -> np.ndarray:
            return np.asarray(Image.fromarray(a).resize(tuple(size), Image.Resampling.LANCZOS))

        def flow(f: np.ndarray | None) -> np.ndarray | None:
            if f is None:
                return None
            out = cv2.resize(np.ascontiguousarray(f.transpose(1, 2, 0)), tuple(size), interpolation=cv2.INTER_LINEAR)
            out = out.transpose(2, 0, 1) * np.array([size[0] / self.size[0], size[1] / self.size[1]],
                                                    np.float32)[:, None, None]
            return out.astype(np.float32)

        return replace(self, frame1=img(self.frame1), frame2=img(self.frame2), frame3=img(self.frame3),
                       roi_image_size=self.roi_image_size or self.size,
                       flow_13=flow(self.flow_13), flow_31=flow(self.flow_31))


@dataclass
class TripletEntry:
    """A triplet not yet read: its name, what is known without reading, and how to read it."""

    name: str
    load: Callable[[], Triplet]
    level: str | None = None


class TripletDataset:
    """Base class: ``entries()`` yields :class:`TripletEntry` s; ``skipped`` lists what was left out."""

    description = "triplets"
    has_flows = False
    has_annotations = False

    def __init__(self) -> None:
        self.skipped: list[Skipped] = []
        self.notes: list[str] = []

    def entries(self) -> Iterator[TripletEntry]:
        raise NotImplementedError

    def size_hint(self) -> int | None:
        """Number of entries if known without reading the data, else ``None``."""
        return None

    def _skip(self, name: str, reason: str) -> None:
        self.skipped.append(Skipped(name, reason))
        log.warning("skipped %s: %s", name, reason)


def _same_size(name: str, frames: list[np.ndarray]) -> None:
    sizes = {f.shape[:2] for f in frames}
    if len(sizes) != 1:
        listed = ", ".join(f"{w}x{h}" for h, w in (f.shape[:2] for f in frames))
        raise DataError(f"{name}: the three frames differ in size ({listed})")


# ---------------------------------------------------------------------------------------------- folders
_FRAME_RE = re.compile(r"frame(\d+)$", re.IGNORECASE)
_EXT_PREFERENCE = (".png", ".bmp", ".tif", ".tiff", ".webp", ".jpg", ".jpeg")


def _triplet_files(folder: Path) -> dict[int, Path]:
    """``{1: path, 2: path, 3: path}`` for ``frame{1,2,3}.*`` in ``folder`` (lossless formats first);
    empty if there are none, or if a ``frame4`` … shows that the folder is a numbered sequence."""
    found: dict[int, Path] = {}
    for p in sorted(folder.iterdir(), key=lambda p: _EXT_PREFERENCE.index(p.suffix.lower())
                    if p.suffix.lower() in _EXT_PREFERENCE else 99):
        m = _FRAME_RE.match(p.stem)
        if m and is_image_file(p):
            if int(m[1]) > 3:
                return {}
            found.setdefault(int(m[1]), p)
    found.pop(0, None)
    return found


TRIPLET_SEARCH_DEPTH = 3
"""How deep below the root triplet folders are looked for (``root/a/b/c/frame1.png`` at most)."""


def _subfolders(folder: Path) -> list[Path]:
    try:
        children = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    return sorted(children, key=lambda p: natural_key(p.name))


def _find_triplet_folders(root: Path, depth: int = TRIPLET_SEARCH_DEPTH) -> list[Path]:
    """Folders holding ``frame{1,2,3}`` files below ``root`` (not descending into them), natural order."""
    found: list[Path] = []
    for child in _subfolders(root):
        if _triplet_files(child):
            found.append(child)
        elif depth > 1:
            found += _find_triplet_folders(child, depth - 1)
    return found


@dataclass
class Annotation:
    level: str | None = None
    roi: tuple[float, float, float, float] | None = None
    image_size: Size | None = None
    problems: list[str] = field(default_factory=list)


def read_atd_annotation(path: str | os.PathLike) -> Annotation:
    """Parse one ATD-12K annotation file (format in the module docstring); problems are listed,
    not raised, so a damaged annotation costs only its RoI/level."""
    ann = Annotation()
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        ann.problems.append(f"unreadable annotation ({e})")
        return ann
    if not isinstance(data, dict):
        ann.problems.append("annotation is not a JSON object")
        return ann
    level = data.get("level")
    if isinstance(level, bool) or level is None:
        ann.problems.append("no 'level'")
    elif isinstance(level, (int, float)) and int(level) == level and 0 <= int(level) < len(LEVELS):
        ann.level = LEVELS[int(level)]
    elif isinstance(level, str) and level.lower() in (*LEVELS, "mid"):
        ann.level = "medium" if level.lower() == "mid" else level.lower()
    else:
        ann.problems.append(f"unknown level {level!r}")
    box = data.get("motion_RoI")
    try:
        roi = tuple(float(box[k]) for k in ("x", "y", "width", "height"))
        if roi[2] <= 0 or roi[3] <= 0:
            raise ValueError("empty box")
        ann.roi = roi  # type: ignore[assignment]
    except (TypeError, KeyError, ValueError):
        ann.problems.append("no usable 'motion_RoI' {x, y, width, height}")
    size = data.get("image_size")
    try:
        w, h = (int(v) for v in size)
        if w <= 0 or h <= 0:
            raise ValueError
        ann.image_size = (w, h)
    except (TypeError, ValueError):
        if ann.roi is not None:
            ann.problems.append("no usable 'image_size' [W, H]; the RoI is taken in frame pixels")
    return ann


def _annotation_file(ann_dir: Path, name: str) -> Path | None:
    for candidate in (ann_dir / name / f"{name}.json", ann_dir / f"{name}.json"):
        if candidate.is_file():
            return candidate
    folder = ann_dir / name
    if folder.is_dir():
        jsons = sorted(folder.glob("*.json"))
        if len(jsons) == 1:
            return jsons[0]
    return None


class TripletFolderDataset(TripletDataset):
    """Folders with ``frame1/2/3`` images, up to :data:`TRIPLET_SEARCH_DEPTH` levels below ``root``
    (named by their path relative to it); optionally ATD-12K annotations (see the module docstring).

    Raises:
        DataError: ``root`` is missing or holds no usable triplet folder.
    """

    def __init__(self, root: str | os.PathLike, annotations: str | os.PathLike | None = None):
        super().__init__()
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: no such folder")
        self.annotations = Path(annotations) if annotations is not None else None
        if self.annotations is not None and not self.annotations.is_dir():
            raise DataError(f"{self.annotations}: annotation folder not found")
        self.has_annotations = self.annotations is not None
        self.description = f"triplet folders in {self.root}" + (
            f" with ATD-12K annotations from {self.annotations}" if self.annotations else "")
        self._items: list[tuple[str, dict[int, Path], Annotation | None]] = []
        for folder in _find_triplet_folders(self.root):
            name = folder.relative_to(self.root).as_posix()
            files = _triplet_files(folder)
            missing = [f"frame{i}" for i in (1, 2, 3) if i not in files]
            if missing:
                self._skip(name, f"missing {', '.join(missing)}")
                continue
            self._items.append((name, files, self._annotation(folder.name)))
        if not self._items:
            detail = f"; skipped: {'; '.join(map(str, self.skipped))}" if self.skipped else ""
            raise DataError(f"{self.root}: no usable triplet folders (subfolders with frame1, frame2 and "
                            f"frame3 images){detail}")

    def _annotation(self, name: str) -> Annotation | None:
        if self.annotations is None:
            return None
        path = _annotation_file(self.annotations, name)
        if path is None:
            self.notes.append(f"{name}: no annotation file")
            log.warning("%s: no annotation file in %s", name, self.annotations)
            return None
        ann = read_atd_annotation(path)
        for problem in ann.problems:
            self.notes.append(f"{name}: {problem}")
            log.warning("%s: %s", path, problem)
        return ann

    def size_hint(self) -> int:
        return len(self._items)

    def entries(self) -> Iterator[TripletEntry]:
        for name, files, ann in self._items:
            yield TripletEntry(name, self._loader(name, files, ann), ann.level if ann else None)

    @staticmethod
    def _loader(name: str, files: dict[int, Path], ann: Annotation | None) -> Callable[[], Triplet]:
        def load() -> Triplet:
            frames = [read_image(files[i]) for i in (1, 2, 3)]
            _same_size(name, frames)
            if ann is None:
                return Triplet(name, *frames)
            return Triplet(name, *frames, level=ann.level, roi=ann.roi, roi_image_size=ann.image_size)

        return load


ATD_FRAME_FOLDERS = ("test_2k_540p", "test_2k_original")
ATD_ANNOTATION_FOLDER = "test_2k_annotations"


def find_atd12k(root: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """``(frames folder, annotations folder or None)`` if ``root`` looks like the ATD-12K test set:
    the ``datasets`` folder (holding ``test_2k_540p`` …) or one of the frame folders itself."""
    r = Path(root)
    for name in ATD_FRAME_FOLDERS:
        if (r / name).is_dir():
            ann = r / ATD_ANNOTATION_FOLDER
            return r / name, ann if ann.is_dir() else None
    if r.name in ATD_FRAME_FOLDERS:
        ann = r.parent / ATD_ANNOTATION_FOLDER
        return r, ann if ann.is_dir() else None
    return None


def open_atd12k(root: str | os.PathLike, annotations: str | os.PathLike | None = None) -> TripletFolderDataset:
    """The ATD-12K test set at ``root`` (see :func:`find_atd12k`), annotations found automatically."""
    found = find_atd12k(root)
    if found is None:
        raise DataError(f"{root}: not an ATD-12K test layout (expected {' or '.join(ATD_FRAME_FOLDERS)})")
    frames, ann = found
    ds = TripletFolderDataset(frames, annotations if annotations is not None else ann)
    ds.description = f"ATD-12K test set {frames}" + (" (annotated)" if ds.annotations else " (no annotations)")
    return ds


# ---------------------------------------------------------------------------------------------- sequences
class SequenceDataset(TripletDataset):
    """Triplets cut from frame sequences (image folders) and video files (see :mod:`.sequence`).

    Args:
        sources: image folders and/or video files, read one after the other.
        max_timing_skew: keep triplets whose middle drawing is at ``|t - 0.5| <= skew``.
    """

    def __init__(self, sources: list[str | os.PathLike], options: SequenceOptions = DEFAULT_OPTIONS,
                 max_timing_skew: float | None = 0.1):
        super().__init__()
        self.sources = [Path(s) for s in sources]
        if not self.sources:
            raise DataError("no frame sequences or videos were given")
        self.options = options
        self.max_timing_skew = max_timing_skew
        names = ", ".join(s.name for s in self.sources[:3]) + (" …" if len(self.sources) > 3 else "")
        self.description = f"triplets cut from {len(self.sources)} sequence(s)/video(s): {names}"

    def entries(self) -> Iterator[TripletEntry]:
        for source in self.sources:
            try:
                reader = FrameReader(source)
            except DataError as e:
                self._skip(source.name, str(e))
                continue
            drawings = iter_drawings(reader, self.options)
            for tri in iter_triplets(drawings, self.max_timing_skew):
                name = f"{source.stem}_f{tri.first.start:05d}-{tri.middle.start:05d}-{tri.last.start:05d}"
                triplet = Triplet(name, tri.first.frame, tri.middle.frame, tri.last.frame, t=tri.t)
                yield TripletEntry(name, lambda triplet=triplet: triplet)
            for s in reader.skipped:
                self.skipped.append(Skipped(f"{source.name}/{s.name}", s.reason))


# ---------------------------------------------------------------------------------------------- synthetic
class SyntheticDataset(TripletDataset):
    """``count`` synthetic cartoon triplets (:func:`.synthetic.make_triplet`, seeds ``seed …``) at
    ``size`` ``(W, H)``, with exact flows."""

    has_flows = True

    def __init__(self, count: int = 16, size: Size = (960, 540), seed: int = 0):
        super().__init__()
        if count < 1:
            raise DataError(f"a synthetic set needs at least one triplet, got {count}")
        self.count, self.size, self.seed = int(count), (int(size[0]), int(size[1])), int(seed)
        self.description = f"{self.count} synthetic cartoon triplets at {self.size[0]}x{self.size[1]} (seed {seed})"

    def size_hint(self) -> int:
        return self.count

    def entries(self) -> Iterator[TripletEntry]:
        from .synthetic import make_triplet

        for i in range(self.count):
            name = f"synthetic_{self.seed + i:05d}"

            def load(i: int = i, name: str = name) -> Triplet:
                tri = make_triplet(self.size[1], self.size[0], seed=self.seed + i)
                return Triplet(name, tri.frame1, tri.frame2, tri.frame3, flow_13=tri.flow_13, flow_31=tri.flow_31)

            yield TripletEntry(name, load)


# ---------------------------------------------------------------------------------------------- opening
_SYNTHETIC_RE = re.compile(r"synthetic(?::(\d+))?(?::(\d+)x(\d+))?$")


def parse_size(text: str) -> Size:
    """``"960x540"`` -> ``(960, 540)``."""
    m = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if not m or int(m[1]) < 1 or int(m[2]) < 1:
        raise DataError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 960x540)")
    return int(m[1]), int(m[2])


def open_dataset(spec: str | os.PathLike, annotations: str | os.PathLike | None = None,
                 options: SequenceOptions = DEFAULT_OPTIONS, max_timing_skew: float | None = 0.1) -> TripletDataset:
    """Open a data set from a path or ``"synthetic[:COUNT][:WxH]"``; the layout is detected:

    ATD-12K test layout → triplet folders (nested up to three levels) → image sequence → folder of
    videos and/or image sequences → single video file.

    Raises:
        DataError: nothing usable at ``spec``.
    """
    text = os.fspath(spec)
    m = _SYNTHETIC_RE.fullmatch(text)
    if m:
        count = int(m[1]) if m[1] else 16
        size = (int(m[2]), int(m[3])) if m[2] else (960, 540)
        return SyntheticDataset(count, size)
    path = Path(text)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_file():
        if is_video_file(path):
            return SequenceDataset([path], options, max_timing_skew)
        raise DataError(f"{path}: not a video file and not a folder")
    if find_atd12k(path) is not None:
        return open_atd12k(path, annotations)
    children = sorted(path.iterdir(), key=lambda p: natural_key(p.name))
    if _find_triplet_folders(path):
        return TripletFolderDataset(path, annotations)
    if any(is_image_file(c) for c in children):
        return SequenceDataset([path], options, max_timing_skew)
    sources = [c for c in children if is_video_file(c) or (c.is_dir() and any(is_image_file(g) for g in c.iterdir()))]
    if sources:
        return SequenceDataset(sources, options, max_timing_skew)
    raise DataError(f"{path}: found no triplet folders (frame1/frame2/frame3), no image sequence and no "
                    f"video (images: {', '.join(sorted(IMAGE_EXTENSIONS))})")


def require_usable(dataset: TripletDataset) -> int:
    """Count the triplets that load (one bounded-memory pass); raise :class:`DataError` if none.

    Use it before work that must not start on an empty set (fine-tuning).
    """
    n = 0
    for entry in dataset.entries():
        try:
            entry.load()
            n += 1
        except DataError as e:
            dataset._skip(entry.name, str(e))
    if n == 0:
        detail = f" Skipped: {'; '.join(map(str, dataset.skipped))}" if dataset.skipped else ""
        raise DataError(f"{dataset.description}: no usable triplets.{detail}")
    return n


def export_triplets(dataset: TripletDataset, out_dir: str | os.PathLike) -> int:
    """Write every usable triplet as ``out_dir/<name>/frame{1,2,3}.png`` (+ ``triplet.json`` with
    ``t``), e.g. to turn a video into a random-access training set. Returns the count."""
    out = Path(out_dir)
    n = 0
    for entry in dataset.entries():
        try:
            tri = entry.load()
        except DataError as e:
            dataset._skip(entry.name, str(e))
            continue
        for i, frame in enumerate((tri.frame1, tri.frame2, tri.frame3), start=1):
            write_image(out / tri.name / f"frame{i}.png", frame)
        (out / tri.name / "triplet.json").write_text(json.dumps({"t": tri.t}), encoding="utf-8")
        n += 1
    return n
