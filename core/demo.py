"""``make demo``: run the pipeline on the bundled synthetic example, offline and without weights."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .synthetic import make_triplet


def _write_png(path: Path, rgb: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.png")
    if not cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")
    os.replace(tmp, path)


def run_demo(out_dir: str | os.PathLike) -> Path:
    """Write the example pair, the in-between and a side-by-side PNG into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = make_triplet(240, 432, seed=0)
    blend = ((t.frame1.astype(np.uint16) + t.frame3) // 2).astype(np.uint8)
    _write_png(out / "frame1.png", t.frame1)
    _write_png(out / "frame3.png", t.frame3)
    _write_png(out / "inbetween_blend.png", blend)
    _write_png(out / "side_by_side.png", np.hstack([t.frame1, blend, t.frame3]))
    print(f"wrote {out}/frame1.png, inbetween_blend.png, frame3.png and side_by_side.png")
    return out
