"""Contact sheets of the worst triplets: inputs, prediction, ground truth and error map per row.

During a run, :class:`WorstTracker` keeps the ``k`` worst (triplet, method) results seen so far and
caches one rendered row ("strip") for each of them on disk, deleting strips that drop out; memory
stays bounded and a resumed run still has the strips of earlier runs.
"""
from __future__ import annotations

import heapq
import os
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..data.triplets import Triplet
from ..io.video import read_image, write_image
from .error_map import error_map

COLUMN_TITLES = ("frame1", "frame3", "prediction", "ground truth", "error")
TILE_WIDTH = 240
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BAR = 22
_BG = (24, 24, 28)
_FG = (235, 235, 235)


def _tile(rgb: np.ndarray, width: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)


def _bar(width: int, text: str) -> np.ndarray:
    bar = np.empty((_BAR, width, 3), np.uint8)
    bar[:] = _BG
    cv2.putText(bar, text, (6, _BAR - 7), _FONT, 0.45, _FG, 1, cv2.LINE_AA)
    return bar


def render_strip(triplet: Triplet, prediction: np.ndarray, label: str, tile_width: int = TILE_WIDTH) -> np.ndarray:
    """One row: label bar over frame1 | frame3 | prediction | ground truth | error map (``uint8`` RGB)."""
    tiles = [_tile(a, tile_width) for a in (triplet.frame1, triplet.frame3, prediction, triplet.frame2,
                                              error_map(prediction, triplet.frame2))]
    gap = np.full((tiles[0].shape[0], 4, 3), _BG, np.uint8)
    row = np.hstack([x for t in tiles for x in (t, gap)][:-1])
    return np.vstack([_bar(row.shape[1], label), row])


def assemble_sheet(strips: list[np.ndarray], title: str, tile_width: int = TILE_WIDTH) -> np.ndarray:
    """Stack strips under a title and the column titles (strips are padded to one width)."""
    width = max([s.shape[1] for s in strips] + [5 * tile_width + 16])
    header = _bar(width, title)
    titles = np.empty((_BAR, width, 3), np.uint8)
    titles[:] = _BG
    for i, name in enumerate(COLUMN_TITLES):
        cv2.putText(titles, name, (i * (tile_width + 4) + 6, _BAR - 7), _FONT, 0.45, (170, 200, 255), 1, cv2.LINE_AA)
    rows = [header, titles]
    for s in strips:
        pad = np.full((s.shape[0], width - s.shape[1], 3), _BG, np.uint8)
        rows += [np.hstack([s, pad]), np.full((4, width, 3), _BG, np.uint8)]
    return np.vstack(rows)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


class WorstTracker:
    """The ``k`` worst results per method, with their strips cached under ``cache_dir/<method>/``.

    ``badness`` is larger for worse results (e.g. LPIPS, or minus PSNR).
    """

    def __init__(self, cache_dir: str | os.PathLike, k: int):
        self.cache_dir = Path(cache_dir)
        self.k = max(0, int(k))
        self._heaps: dict[str, list[tuple[float, str]]] = {}  # min-heap of the k worst: least bad on top

    def strip_path(self, method: str, name: str) -> Path:
        return self.cache_dir / _safe(method) / f"{_safe(name)}.png"

    def _push(self, method: str, name: str, badness: float) -> tuple[bool, str | None]:
        """Insert; return (kept, name evicted)."""
        heap = self._heaps.setdefault(method, [])
        if self.k == 0:
            return False, None
        if len(heap) < self.k:
            heapq.heappush(heap, (badness, name))
            return True, None
        if badness <= heap[0][0]:
            return False, None
        _, evicted = heapq.heapreplace(heap, (badness, name))
        return True, evicted

    def seed(self, method: str, name: str, badness: float) -> None:
        """Register a result of an earlier run (its strip may already be cached)."""
        _, evicted = self._push(method, name, badness)
        if evicted is not None:
            self.strip_path(method, evicted).unlink(missing_ok=True)

    def offer(self, method: str, name: str, badness: float, make_strip: Callable[[], np.ndarray]) -> None:
        """Register a new result; render and cache its strip if it is among the ``k`` worst."""
        kept, evicted = self._push(method, name, badness)
        if kept:
            write_image(self.strip_path(method, name), make_strip())
        if evicted is not None:
            self.strip_path(method, evicted).unlink(missing_ok=True)

    def worst(self, method: str) -> list[tuple[float, str]]:
        """``(badness, name)``, worst first."""
        return sorted(self._heaps.get(method, []), reverse=True)

    def prune(self, method: str) -> None:
        """Delete cached strips of ``method`` that are not among its current ``k`` worst."""
        keep = {self.strip_path(method, n) for _, n in self._heaps.get(method, [])}
        folder = self.cache_dir / _safe(method)
        if folder.is_dir():
            for p in folder.glob("*.png"):
                if p not in keep:
                    p.unlink(missing_ok=True)

    def cached_strip(self, method: str, name: str) -> np.ndarray | None:
        p = self.strip_path(method, name)
        return read_image(p) if p.is_file() else None
