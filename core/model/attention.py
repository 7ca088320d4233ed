"""Global motion aggregation (GMA, Jiang et al. ICCV'21) as used by AFI: content-only, one head.

:class:`ContextAttention` turns the context features into an (hw x hw) attention map once per
flow-net call; :class:`MotionAggregator` uses it in every iteration to add attention-weighted
motion features: ``out = motion + gamma * (attention @ to_value(motion))``.

The relative position embedding of the original (``att.pos_emb.*``) is unused in content-only
mode; its keys are dropped by the converter.
"""
from __future__ import annotations

import torch
from torch import nn

SOFTMAX_ROWS = 512
"""Rows per block of the in-place attention softmax."""


class ContextAttention(nn.Module):
    """Softmax self-attention map of the context features.

    Input: ``(N, C, h, w)`` context features (C = ``dim``).
    Output: ``(N, h*w, h*w)`` attention, rows (queries) sum to 1.
    """

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.dim = dim
        self.scale = dim ** -0.5
        self.to_query_key = nn.Conv2d(dim, 2 * dim, 1, bias=False)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        n, _, h, w = context.shape
        query, key = self.to_query_key(context).chunk(2, dim=1)
        query = self.scale * query.reshape(n, self.dim, h * w).transpose(1, 2)
        key = key.reshape(n, self.dim, h * w)
        similarity = torch.matmul(query, key).float()  # softmax in fp32, also under autocast
        if similarity.requires_grad:
            return similarity.softmax(dim=-1)
        # Without autograd, in place by row blocks: the (hw x hw) map is the largest tensor of the
        # model (258 MB at 960x540); the result is bit-identical to a plain softmax.
        for start in range(0, similarity.shape[1], SOFTMAX_ROWS):
            block = similarity[:, start:start + SOFTMAX_ROWS]
            block.copy_(block.softmax(dim=-1))
        return similarity


class MotionAggregator(nn.Module):
    """Adds globally aggregated motion features: ``motion + gamma * attention @ V(motion)``.

    Inputs: attention ``(N, h*w, h*w)``, motion features ``(N, C, h, w)``.
    Output: ``(N, C, h, w)``.
    """

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.to_value = nn.Conv2d(dim, dim, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, attention: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        n, c, h, w = motion.shape
        value = self.to_value(motion).reshape(n, c, h * w)
        # (attention @ V)^T = V^T @ attention^T: comes out channels-first, and is the faster GEMM.
        aggregated = torch.matmul(value, attention.transpose(1, 2)).reshape(n, c, h, w)
        return motion + self.gamma * aggregated
