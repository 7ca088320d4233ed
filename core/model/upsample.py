"""Convex x8 upsampling of a 1/8-resolution flow (RAFT).

Every full-resolution pixel is a convex combination of the 3x3 low-resolution neighbourhood
(zero padded) of ``8 * flow``; the weights are a softmax over the 9 neighbours of learned logits.
Logit channel ``n * 64 + a * 8 + b`` belongs to neighbour ``n`` (row-major 3x3) and sub-pixel
``(a, b)``; sub-pixel ``(a, b)`` of low-res cell ``(i, j)`` lands at ``(8i + a, 8j + b)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def convex_upsample(flow: torch.Tensor, logits: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """``(N, 2, h, w)`` flow + ``(N, 9*f*f, h, w)`` logits -> ``(N, 2, f*h, f*w)`` flow (x f)."""
    n, _, h, w = flow.shape
    weights = torch.softmax(logits.view(n, 1, 9, factor, factor, h, w), dim=2)
    neighbours = F.unfold(factor * flow, [3, 3], padding=1).view(n, 2, 9, 1, 1, h, w)
    up = torch.sum(weights * neighbours, dim=2)  # (n, 2, f, f, h, w)
    return up.permute(0, 1, 4, 2, 5, 3).reshape(n, 2, factor * h, factor * w)
