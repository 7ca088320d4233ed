"""Lower the memory peak of fine-tuning: activation checkpointing of the network's big parts.

With checkpointing, the forward pass of the flow network, the feature pyramid and GridNet keeps
only their inputs and outputs; their inner activations are recomputed during the backward pass
(about a third more compute per step, a much lower peak: see ``bench/bench_node_memory.py``).
The numbers computed are the same.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

CHECKPOINTED = (("flow_net", "bidirectional"), ("features", "forward"), ("synthesis", "forward"))
"""``(submodule, method)`` pairs of a ``LearnedInterpolator`` run under checkpointing."""


def _checkpointed(fn: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        if not torch.is_grad_enabled():
            return fn(*args, **kwargs)
        return checkpoint(fn, *args, use_reentrant=False, **kwargs)

    return run


@contextlib.contextmanager
def activation_checkpointing(model: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """While active, the big parts of ``model`` (a ``LearnedInterpolator``) recompute their
    activations in the backward pass instead of storing them; restored afterwards."""
    patched = []
    if enabled:
        for part, method in CHECKPOINTED:
            module = getattr(model, part, None)
            if module is None:
                continue
            setattr(module, method, _checkpointed(getattr(module, method)))
            patched.append((module, method))
    try:
        yield
    finally:
        for module, method in patched:
            delattr(module, method)  # the class's method shows through again
