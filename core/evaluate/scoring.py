"""Score one prediction against its ground truth: whole frame, motion RoI, flows."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..data.triplets import Triplet
from ..io.images import to_tensor
from ..metrics import end_point_error, psnr, ssim, ssim_gaussian
from ..metrics.lpips import LPIPS

METRIC_COLUMNS = ("psnr", "ssim", "ssim_gauss", "lpips", "ie", "roi_psnr", "roi_ssim", "roi_lpips", "epe")
"""Metric columns of a result row (empty where a metric does not apply)."""

MIN_SSIM = 7        # side the table SSIM's 7x7 window needs
MIN_GAUSSIAN_SSIM = 11
MIN_LPIPS = 32      # side AlexNet needs


def _frame_metrics(pred: np.ndarray, gt: np.ndarray, lpips: LPIPS | None, device: torch.device | str,
                   prefix: str = "", gaussian_ssim: bool = False) -> dict[str, float]:
    p, g = to_tensor(pred), to_tensor(gt)
    out: dict[str, float] = {f"{prefix}psnr": float(psnr(p, g)[0])}
    side = min(pred.shape[:2])
    if side >= MIN_SSIM:
        out[f"{prefix}ssim"] = float(ssim(p, g)[0])
    if gaussian_ssim and side >= MIN_GAUSSIAN_SSIM:
        out[f"{prefix}ssim_gauss"] = float(ssim_gaussian(p, g)[0])
    if lpips is not None and side >= MIN_LPIPS:
        with torch.no_grad():
            out[f"{prefix}lpips"] = float(lpips(p.to(device), g.to(device))[0])
    return out


def score(pred: np.ndarray, triplet: Triplet, lpips: LPIPS | None = None,
          device: torch.device | str = "cpu", gaussian_ssim: bool = False) -> dict[str, float]:
    """Metrics of ``pred`` (``uint8`` RGB, the triplet's size) against ``triplet.frame2``.

    Keys: ``psnr``, ``ssim``, ``ssim_gauss`` (only if ``gaussian_ssim``: it costs more than the
    rest together on CPU), ``ie`` (mean RGB Euclidean distance in 0–255, the
    "interpolation error" of the original script), ``lpips`` (if a model is given) and, where the
    triplet has a motion RoI, ``roi_psnr``, ``roi_ssim`` and ``roi_lpips`` (SSIM needs at least 7 px a
    side, LPIPS 32 px; smaller regions get no value).
    """
    gt = triplet.frame2
    out = _frame_metrics(pred, gt, lpips, device, gaussian_ssim=gaussian_ssim)
    d = pred.astype(np.float64) - gt.astype(np.float64)
    out["ie"] = float(np.sqrt((d * d).sum(axis=2)).mean())
    box = triplet.roi_box()
    if box is not None:
        x, y, w, h = box
        roi = _frame_metrics(pred[y:y + h, x:x + w], gt[y:y + h, x:x + w], lpips, device, "roi_")
        out.update({k: v for k, v in roi.items() if k != "roi_ssim_gauss"})
    return out


def flow_score(flows: tuple[np.ndarray, np.ndarray], triplet: Triplet) -> float:
    """Mean end-point error of estimated ``(F13, F31)`` against the triplet's exact flows."""
    if triplet.flow_13 is None or triplet.flow_31 is None:
        return math.nan
    return 0.5 * (end_point_error(flows[0], triplet.flow_13) + end_point_error(flows[1], triplet.flow_31))

