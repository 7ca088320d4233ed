"""Coarse SGM init flows for training triplets, computed once and cached on disk compactly.

The original training read ``guide_flo13.npy`` / ``guide_flo31.npy``: float64 at 960×540, two
fields per triplet = 16.6 MB, about 166 GB for ATD-12K's 10k training triplets. Coarse flows are
piecewise smooth (one DIS field per matched segment, zero elsewhere), so we store them

* at the size SGM worked at (``SGMOptions.working_size``; resized on load with the original
  loader's rule: legacy nearest + per-axis scaling),
* as int16 in 1/16 px (largest error 1/32 px, range ±2047 px), each row delta-coded (differences
  of neighbours, modulo 2¹⁶, so exactly invertible),
* zlib-compressed (``numpy.savez_compressed``),

which takes about 0.06 MB for a synthetic and 0.8 MB for a real 960×540 pair (SGM's DIS fields are
dense and noisy on real drawings): about 8 GB instead of 166 GB for 10k triplets
(``bench/bench_train.py``). The cache key is
the SHA-256 of the two frames SGM sees plus the SGM options, so a changed frame or setting never
reads a stale flow. Files are written atomically; an unreadable file is recomputed with a warning.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, InputError
from ..features.vgg19 import VGG19Features
from ..sgm.coarse_flow import resize_flow_nearest
from ..sgm.run import SGMOptions, run_sgm

log = logging.getLogger(__name__)

FLOW_QUANTUM = 1.0 / 16.0
"""Flow resolution of the cache in pixels."""
CACHE_VERSION = "sgm-flow-cache/2"
_LIMIT = np.iinfo(np.int16).max * FLOW_QUANTUM


def compute_flows(
    frame1: np.ndarray,
    frame3: np.ndarray,
    options: SGMOptions,
    vgg: VGG19Features | None = None,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """SGM coarse flows ``(flow_13, flow_31)``, float32 ``(2, h, w)`` at SGM's working size."""
    result = run_sgm(frame1, frame3, options, vgg=vgg, device=device)
    return result.flow.flow_13.astype(np.float32), result.flow.flow_31.astype(np.float32)


def flows_at(flows: tuple[np.ndarray, np.ndarray], height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize stored flows to ``(height, width)`` like the original loader (nearest + scaling)."""
    return tuple(resize_flow_nearest(f.astype(np.float64), height, width).astype(np.float32) for f in flows)


def save_flows(path: str | os.PathLike, flow_13: np.ndarray, flow_31: np.ndarray) -> int:
    """Write both flows quantised and compressed, atomically; returns the file size in bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for name, flow in (("flow_13", flow_13), ("flow_31", flow_31)):
        if flow.ndim != 3 or flow.shape[0] != 2 or not np.isfinite(flow).all():
            raise InputError(f"{name}: expected a finite (2, H, W) flow, got {flow.shape}")
        if np.abs(flow).max(initial=0.0) > _LIMIT:
            raise InputError(f"{name}: vectors longer than {_LIMIT:.0f} px cannot be cached")
        arrays[name] = _delta_code(np.round(flow / FLOW_QUANTUM).astype(np.int16))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays, quantum=np.float32(FLOW_QUANTUM))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.stat().st_size


def load_flows(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read flows written by :func:`save_flows` as float32 ``(2, h, w)`` arrays."""
    with np.load(path) as data:
        quantum = float(data["quantum"])
        return tuple(
            _delta_decode(data[name]).astype(np.float32) * np.float32(quantum)
            for name in ("flow_13", "flow_31")
        )


def _delta_code(values: np.ndarray) -> np.ndarray:
    """int16 ``(..., W)`` -> uint16 differences along the rows (first column kept), modulo 2¹⁶."""
    u = values.view(np.uint16)
    out = u.copy()
    out[..., 1:] = np.diff(u, axis=-1)  # uint16 arithmetic wraps: exactly invertible
    return out


def _delta_decode(coded: np.ndarray) -> np.ndarray:
    return np.cumsum(coded, axis=-1, dtype=np.uint16).view(np.int16)


class FlowCache:
    """Flows keyed by frame content and SGM options, in ``folder`` (one ``.npz`` per triplet).

    Args:
        folder: cache folder (created on first write); may be shared between runs.
        options: SGM options (part of the key).
        vgg: VGG-19 for ``options.features == "vgg"``.
        device: where SGM's VGG forward runs.
        read_only: never compute: a missing flow is a :class:`DataError` (data loaders after the
            flows were computed up front).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        options: SGMOptions,
        vgg: VGG19Features | None = None,
        device: torch.device | str = "cpu",
        read_only: bool = False,
    ) -> None:
        if options.features == "vgg" and vgg is None and not read_only:
            raise InputError("SGM with VGG features needs the VGG-19 network (or use colour features)")
        self.folder = Path(folder)
        self.options = options
        self.vgg = vgg
        self.device = device
        self.read_only = read_only
        self.computed = 0
        self._options_key = repr(sorted(asdict(options).items()))

    def key(self, frame1: np.ndarray, frame3: np.ndarray) -> str:
        h = hashlib.sha256(CACHE_VERSION.encode())
        h.update(self._options_key.encode())
        for f in (frame1, frame3):
            h.update(str(f.shape).encode())
            h.update(np.ascontiguousarray(f).tobytes())
        return h.hexdigest()

    def path(self, frame1: np.ndarray, frame3: np.ndarray) -> Path:
        key = self.key(frame1, frame3)
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, frame1: np.ndarray, frame3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flows for the pair at SGM's working size: from the cache, else computed and stored."""
        path = self.path(frame1, frame3)
        if path.is_file():
            try:
                return load_flows(path)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
                log.warning("flow cache: %s is unreadable (%s); recomputing", path, e)
        if self.read_only:
            raise DataError(f"flow cache: no usable flows for this pair at {path}")
        save_flows(path, *compute_flows(frame1, frame3, self.options, self.vgg, self.device))
        self.computed += 1
        return load_flows(path)  # exactly what later reads return

    def size_bytes(self) -> int:
        """Total size of the cache files."""
        return sum(p.stat().st_size for p in self.folder.rglob("*.npz")) if self.folder.is_dir() else 0
