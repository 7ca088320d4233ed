"""Global motion aggregation (GMA, Jiang et al. ICCV'21) as used by AFI: content-only, one head.

:class:`ContextAttention` turns the context features into an (hw x hw) attention map once per
flow-net call; :class:`MotionAggregator` uses it in every iteration to add attention-weighted
motion features: ``out = motion + gamma * (attention @ to_value(motion))``.

Two ways to apply the attention give the same numbers (up to float rounding):

* :class:`FullAttention` keeps the softmax map, ``(hw)^2`` floats (258 MB at 960x540, 4.2 GB at
  1920x1080), and multiplies by it in every iteration;
* :class:`EfficientAttention` keeps only the queries and keys and recomputes
  ``softmax(QK^T) V`` blockwise in every iteration with ``scaled_dot_product_attention``: memory
  linear in the pixels, about twice the arithmetic of the map's products.

The relative position embedding of the original (``att.pos_emb.*``) is unused in content-only
mode; its keys are dropped by the converter.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

SOFTMAX_ROWS = 512
"""Rows per block of the in-place attention softmax."""


class ContextAttention(nn.Module):
    """Softmax self-attention map of the context features.

    Input: ``(N, C, h, w)`` context features (C = ``dim``).
    Output: ``(N, h*w, h*w)`` attention, rows (queries) sum to 1: float32, or the autocast dtype
    when autocast is on and autograd is not needed.
    """

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.dim = dim
        self.scale = dim ** -0.5
        self.to_query_key = nn.Conv2d(dim, 2 * dim, 1, bias=False)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        query, key = self.queries_keys(context)
        device_type = context.device.type
        if not query.requires_grad and torch.is_autocast_enabled(device_type):
            return self._half_map(query, key, torch.get_autocast_dtype(device_type))
        similarity = torch.matmul(query, key.transpose(1, 2)).float()  # softmax in fp32, also under autocast
        if similarity.requires_grad:
            return similarity.softmax(dim=-1)
        # Without autograd, in place by row blocks: the (hw x hw) map is the largest tensor of the
        # model (258 MB at 960x540); the result is bit-identical to a plain softmax.
        for start in range(0, similarity.shape[1], SOFTMAX_ROWS):
            block = similarity[:, start:start + SOFTMAX_ROWS]
            block.copy_(block.softmax(dim=-1))
        return similarity

    @staticmethod
    def _half_map(query: torch.Tensor, key: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The map in the autocast ``dtype``, built by row blocks (each block's softmax in fp32):
        2 bytes per entry at most, where a whole fp32 similarity and its cast would take 6."""
        n, hw, _ = query.shape
        weights = torch.empty(n, hw, hw, dtype=dtype, device=query.device)
        for start in range(0, hw, SOFTMAX_ROWS):
            block = torch.matmul(query[:, start:start + SOFTMAX_ROWS], key.transpose(1, 2)).float()
            weights[:, start:start + SOFTMAX_ROWS] = block.softmax(dim=-1)
        return weights

    def queries_keys(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, h, w)`` context -> scaled queries and keys, both ``(N, h*w, C)``."""
        n, _, h, w = context.shape
        query, key = self.to_query_key(context).chunk(2, dim=1)
        query = self.scale * query.reshape(n, self.dim, h * w).transpose(1, 2)
        return query, key.reshape(n, self.dim, h * w).transpose(1, 2)

    def prepare(self, context: torch.Tensor, efficient: bool) -> FullAttention | EfficientAttention:
        """The attention of one flow-net call, as a map (``efficient=False``) or recomputed per use."""
        if efficient:
            return EfficientAttention(*self.queries_keys(context))
        weights = self(context)
        device_type = context.device.type
        if torch.is_autocast_enabled(device_type):
            # In the autocast dtype once (built so without autograd), not cast again by every
            # iteration's product (autocast would copy the whole map each time).
            weights = weights.to(torch.get_autocast_dtype(device_type))
        return FullAttention(weights)


@dataclass
class FullAttention:
    """A materialised attention map ``(N, hw, hw)`` (rows = queries, summing to 1)."""

    weights: torch.Tensor

    def aggregate(self, value: torch.Tensor) -> torch.Tensor:
        """``(N, C, hw)`` values -> ``(N, C, hw)`` attention-weighted sums."""
        if self.weights.dtype == torch.float32:
            # (attention @ V)^T = V^T @ attention^T: comes out channels-first, and is the faster GEMM.
            return torch.matmul(value, self.weights.transpose(1, 2))
        # Half precision (a map cast under autocast): half GEMMs copy a transposed operand first, so
        # the map stays the untransposed left operand (a 0.2 s copy per iteration at 960x540 saved).
        return torch.matmul(self.weights, value.to(self.weights.dtype).transpose(1, 2)).transpose(1, 2)


@dataclass
class EfficientAttention:
    """The attention as scaled queries and keys ``(N, hw, C)``; the map is never materialised."""

    query: torch.Tensor
    key: torch.Tensor

    def aggregate(self, value: torch.Tensor) -> torch.Tensor:
        """``(N, C, hw)`` values -> ``(N, C, hw)``: ``softmax(Q K^T) V``, blockwise (fused kernel)."""
        dtype = value.dtype
        query, key = self.query.to(dtype)[:, None], self.key.to(dtype)[:, None]
        out = F.scaled_dot_product_attention(query, key, value.transpose(1, 2)[:, None], scale=1.0)
        return out[:, 0].transpose(1, 2)


class MotionAggregator(nn.Module):
    """Adds globally aggregated motion features: ``motion + gamma * attention @ V(motion)``.

    Inputs: attention (a :class:`FullAttention` / :class:`EfficientAttention`, or an ``(N, h*w, h*w)``
    map), motion features ``(N, C, h, w)``. Output: ``(N, C, h, w)``.
    """

    def __init__(self, dim: int = 128) -> None:
        super().__init__()
        self.to_value = nn.Conv2d(dim, dim, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, attention: FullAttention | EfficientAttention | torch.Tensor,
                motion: torch.Tensor) -> torch.Tensor:
        n, c, h, w = motion.shape
        if isinstance(attention, torch.Tensor):
            attention = FullAttention(attention)
        value = self.to_value(motion).reshape(n, c, h * w)
        aggregated = attention.aggregate(value).reshape(n, c, h, w)
        return motion + self.gamma * aggregated
