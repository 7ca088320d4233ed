"""Validation: loss terms, PSNR and SSIM of the model on the held-out triplets."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch

from ..metrics import psnr, ssim
from .losses import LossWeights, StyleLoss

ALL_TERMS = LossWeights(1.0, 1.0, 1.0)
L1_ONLY = LossWeights(1.0, 0.0, 0.0)


@torch.no_grad()
def validate(
    model: torch.nn.Module,
    loss_fn: StyleLoss,
    batches: Iterable[dict[str, torch.Tensor]],
    weights: LossWeights,
    device: torch.device,
    autocast_dtype: torch.dtype | None = None,
) -> dict[str, float]:
    """Mean over the validation samples of ``loss`` (weighted by ``weights``), the unweighted
    ``l1``/``vgg``/``gram`` terms, ``psnr`` and ``ssim`` (table convention, prediction clamped to
    [0, 1]). Returns an empty dict when there are no batches."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    try:
        for batch in batches:
            f1, f2, f3 = (batch[k].to(device) for k in ("frame1", "frame2", "frame3"))
            flow13, flow31 = batch["flow13"].to(device), batch["flow31"].to(device)
            amp = (
                torch.autocast(device_type=device.type, dtype=autocast_dtype)
                if autocast_dtype is not None
                else contextlib.nullcontext()
            )
            with amp:
                out = model(f1, f3, flow13, flow31, batch["t"].to(device))[0]
            out = out.float()
            terms = loss_fn(out, f2, ALL_TERMS if loss_fn.vgg is not None else L1_ONLY)
            n = f1.shape[0]
            values = {
                name: float(v)
                for name, v in (("l1", terms.l1), ("vgg", terms.vgg), ("gram", terms.gram))
                if v is not None
            }
            values["loss"] = sum(
                w * values.get(name, 0.0)
                for name, w in (("l1", weights.l1), ("vgg", weights.vgg), ("gram", weights.gram))
            )
            clamped = out.clamp(0, 1)
            values["psnr"] = float(psnr(clamped, f2).clamp(max=100.0).mean())
            if min(f2.shape[-2:]) >= 7:
                values["ssim"] = float(ssim(clamped, f2).mean())
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * n
            count += n
    finally:
        model.train(was_training)
    return {k: v / count for k, v in sums.items()} if count else {}
