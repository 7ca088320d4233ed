"""ComfyUI node: compare interpolated frames with ground truth inside a graph."""
from __future__ import annotations

import torch

from ..core.evaluate.error_map import DEFAULT_SATURATION
from ..core.evaluate.frames import compare_frames, error_maps, format_metrics, pair_batches
from ..core.metrics.lpips import LPIPS, resolve_lpips
from . import comfy_env

_LPIPS_CACHE: dict[str, tuple[LPIPS | None, str]] = {}


def _lpips(device: torch.device) -> tuple[LPIPS | None, str]:
    """LPIPS loaded once per device (through the weights manifest and ComfyUI's model folders)."""
    key = str(device)
    if key not in _LPIPS_CACHE or _LPIPS_CACHE[key][0] is None:
        _LPIPS_CACHE[key] = resolve_lpips(device=device, search_dirs=comfy_env.model_folders())
    return _LPIPS_CACHE[key]


class EvaluateInterpolation:
    """PSNR / SSIM / LPIPS of predicted frames against ground truth, plus error maps."""

    CATEGORY = "AnimeInterp/evaluate"
    FUNCTION = "evaluate"
    RETURN_TYPES = ("STRING", "IMAGE")
    RETURN_NAMES = ("metrics", "error_map")
    DESCRIPTION = ("Compares predicted frames with ground-truth frames (same size; one ground truth may serve a "
                   "whole batch): per-frame PSNR, SSIM (the AnimeInterp/AFI table convention) and LPIPS x100 "
                   "when its weights are available, as text, and a colour-coded error map per frame "
                   "(black = exact, yellow = error at or above 'error_scale' levels).")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "predictions": ("IMAGE", {"tooltip": "interpolated frames"}),
                "ground_truth": ("IMAGE", {"tooltip": "the true frames at the same times"}),
            },
            "optional": {
                "lpips": ("BOOLEAN", {"default": True, "tooltip": "also compute LPIPS (needs its weights)"}),
                "error_scale": ("FLOAT", {"default": DEFAULT_SATURATION, "min": 1.0, "max": 255.0, "step": 1.0,
                                          "tooltip": "error (0-255 levels) shown at full colour"}),
            },
        }

    def evaluate(self, predictions: torch.Tensor, ground_truth: torch.Tensor, lpips: bool = True,
                 error_scale: float = DEFAULT_SATURATION) -> tuple[str, torch.Tensor]:
        pred, gt = pair_batches(predictions.permute(0, 3, 1, 2), ground_truth.permute(0, 3, 1, 2))
        model, note = _lpips(comfy_env.torch_device()) if lpips else (None, "disabled")
        device = comfy_env.torch_device()
        bar = comfy_env.ProgressBar(pred.shape[0])
        rows = []
        for i in range(pred.shape[0]):
            comfy_env.throw_if_interrupted()
            rows += compare_frames(pred[i:i + 1], gt[i:i + 1], model, device)
            bar.update(1)
        maps = error_maps(pred, gt, error_scale).to(comfy_env.intermediate_device())
        return format_metrics(rows, note), maps


NODES = {"AnimeInterpEvaluate": (EvaluateInterpolation, "Evaluate Interpolation (AnimeInterp)")}
