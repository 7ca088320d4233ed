"""Compare batches of predicted frames with ground truth (what the ComfyUI node shows)."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError
from ..metrics import psnr, ssim
from ..metrics.lpips import LPIPS
from .error_map import DEFAULT_SATURATION, error_map


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        raise InputError(f"{name}: expected a (B, 3, H, W) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{name}: expected float values in [0, 1], got {x.dtype}")
    return x.float().clamp(0, 1)


def pair_batches(pred: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check sizes and broadcast a batch of one against a longer batch."""
    pred, gt = _as_batch(pred, "predictions"), _as_batch(gt, "ground truth")
    if pred.shape[2:] != gt.shape[2:]:
        raise InputError(f"predictions are {pred.shape[3]}x{pred.shape[2]} but the ground truth is "
                         f"{gt.shape[3]}x{gt.shape[2]}; resize one of them first")
    if pred.shape[0] != gt.shape[0]:
        if gt.shape[0] == 1:
            gt = gt.expand_as(pred)
        elif pred.shape[0] == 1:
            pred = pred.expand_as(gt)
        else:
            raise InputError(f"{pred.shape[0]} predictions but {gt.shape[0]} ground-truth frames; give one "
                             "ground truth per prediction (or a single one for all)")
    return pred, gt


def compare_frames(pred: torch.Tensor, gt: torch.Tensor, lpips: LPIPS | None = None,
                   device: torch.device | str = "cpu") -> list[dict[str, float]]:
    """Per-frame ``psnr``, ``ssim`` and (with a model) ``lpips`` for ``(B, 3, H, W)`` float [0, 1]
    batches (a batch of one is broadcast). Conventions as in :mod:`..metrics.psnr_ssim`."""
    pred, gt = pair_batches(pred, gt)
    rows = []
    for i in range(pred.shape[0]):
        p, g = pred[i:i + 1], gt[i:i + 1]
        row = {"psnr": float(psnr(p, g)[0])}
        if min(p.shape[2:]) >= 7:
            row["ssim"] = float(ssim(p, g)[0])
        if lpips is not None and min(p.shape[2:]) >= 32:
            with torch.no_grad():
                row["lpips"] = float(lpips(p.to(device), g.to(device))[0])
        rows.append(row)
    return rows


def error_maps(pred: torch.Tensor, gt: torch.Tensor, saturation: float = DEFAULT_SATURATION) -> torch.Tensor:
    """Colour-coded error maps ``(B, H, W, 3)`` float [0, 1] (see :func:`.error_map.error_map`)."""
    pred, gt = pair_batches(pred, gt)

    def to_u8(t: torch.Tensor) -> np.ndarray:
        return (t.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)

    maps = [error_map(to_u8(p), to_u8(g), saturation) for p, g in zip(pred, gt)]
    return torch.from_numpy(np.stack(maps)).float() / 255.0


def format_metrics(rows: list[dict[str, float]], lpips_note: str | None = None) -> str:
    """A small text table: one line per frame, then the mean."""
    cols = [("psnr", "PSNR dB", "{:.2f}", 1.0), ("ssim", "SSIM", "{:.4f}", 1.0), ("lpips", "LPIPSx100", "{:.2f}", 100.0)]
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    lines = ["frame " + "".join(title.rjust(11) for _, title, _, _ in cols)]

    def line(label: str, values: dict) -> str:
        cells = []
        for key, _, fmt, scale in cols:
            v = values.get(key)
            cells.append(("-" if v is None else "inf" if math.isinf(v) else fmt.format(v * scale)).rjust(11))
        return label.ljust(6) + "".join(cells)

    lines += [line(str(i), r) for i, r in enumerate(rows)]
    if len(rows) > 1:
        mean = {k: sum(r[k] for r in rows) / len(rows) for k, *_ in cols if all(k in r for r in rows)}
        lines.append(line("mean", mean))
    lines.append("PSNR: data range 1. SSIM: AnimeInterp/AFI table convention (uniform 7x7 window, data range 2).")
    if "lpips" in (c[0] for c in cols):
        lines.append("LPIPS: v0.1, AlexNet (x100).")
    elif lpips_note:
        lines.append(f"LPIPS not computed: {lpips_note.splitlines()[0]}")
    return "\n".join(lines)
