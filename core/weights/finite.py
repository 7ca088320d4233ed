"""Refuse weights holding NaN or infinite values.

A diverged fine-tune exports tensors full of NaN; loaded, they turn every frame black without any
error. Every loader calls :func:`require_finite` on the state dict before using it.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch

from ..errors import WeightsError

_LISTED = 5
"""At most this many offending tensors are named in the message."""


def non_finite_tensors(state: Mapping[str, object]) -> list[tuple[str, int, int]]:
    """``(key, NaN count, infinity count)`` of every floating tensor in ``state`` with a non-finite value."""
    bad = []
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                nan = int(torch.isnan(value).sum())
                bad.append((key, nan, int((~finite).sum()) - nan))
    return bad


def require_finite(state: Mapping[str, object], source: str) -> None:
    """Raise :class:`WeightsError` naming the tensors of ``state`` that hold NaN or infinity.

    Args:
        state: a state dict (non-tensor and integer entries are ignored).
        source: the file (or description) named in the message.
    """
    bad = non_finite_tensors(state)
    if not bad:
        return
    named = ", ".join(f"{k} ({n} NaN, {i} inf)" for k, n, i in bad[:_LISTED])
    more = f" and {len(bad) - _LISTED} more" if len(bad) > _LISTED else ""
    raise WeightsError(
        f"{source}: {len(bad)} tensor(s) hold NaN or infinite values: {named}{more}. The file is "
        "unusable (a fine-tune that diverged exports such weights): use an earlier checkpoint or "
        "download the weights again."
    )
