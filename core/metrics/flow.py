"""End-point error (EPE) of optical flows."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import InputError

FlowLike = np.ndarray | torch.Tensor


def end_point_error(flow: FlowLike, flow_gt: FlowLike, mask: FlowLike | None = None) -> float:
    """Mean Euclidean distance between two flows, in pixels.

    Args:
        flow, flow_gt: ``(2, H, W)`` flows in pixels (channel 0 = x, channel 1 = y).
        mask: optional boolean ``(H, W)``; only pixels where it is true are averaged.

    Returns:
        The mean EPE; ``nan`` if the mask selects no pixel.
    """
    f = np.asarray(flow.detach().cpu() if isinstance(flow, torch.Tensor) else flow, dtype=np.float64)
    g = np.asarray(flow_gt.detach().cpu() if isinstance(flow_gt, torch.Tensor) else flow_gt, dtype=np.float64)
    if f.ndim != 3 or f.shape[0] != 2 or f.shape != g.shape:
        raise InputError(f"expected two flows of shape (2, H, W); got {f.shape} and {g.shape}")
    err = np.sqrt(((f - g) ** 2).sum(axis=0))
    if mask is not None:
        m = np.asarray(mask.cpu() if isinstance(mask, torch.Tensor) else mask, dtype=bool)
        if m.shape != err.shape:
            raise InputError(f"mask {m.shape} does not match the flow size {err.shape}")
        if not m.any():
            return float("nan")
        err = err[m]
    return float(err.mean())
