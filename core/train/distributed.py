"""Running one fine-tuning over several processes with PyTorch's own engine (``torchrun`` + DDP).

Start ``N`` processes with ``torchrun --nproc_per_node N`` (one per GPU, or several CPU processes):
torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``, and
:func:`init_distributed` joins the process group — NCCL on CUDA, gloo on CPU. The model is wrapped
in ``DistributedDataParallel``, which averages the gradients of the processes' equal slices of each
global batch, so the run equals a single-process run on the same global batch. Without those
variables everything here is a no-op (one process).

Across machines (``torchrun --nnodes N --rdzv-endpoint HOST:PORT ...``) the output folder must be
on a file system all machines share: the main process writes the cut triplets there, every
process writes its share of the SGM flow cache and reads the checkpoints from it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import InputError

PREPARE_TIMEOUT = timedelta(hours=6)
"""Collective timeout: generous, because SGM flows are computed between two barriers."""


CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size`` processes, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = CPU
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def requested_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(device: str = "auto", timeout: timedelta = PREPARE_TIMEOUT) -> DistContext:
    """Join the process group if launched by torchrun (else a single-process context).

    Args:
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; under torchrun
            with CUDA each process takes GPU ``LOCAL_RANK``.
        timeout: how long a collective (e.g. a barrier) waits for the slowest process.
    """
    world = requested_world_size()
    wanted = _pick_device(device)
    if world <= 1:
        return DistContext(device=wanted)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if wanted.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise InputError(
                f"process {rank} wants GPU {local_rank}, but only {torch.cuda.device_count()} are visible"
            )
        wanted = torch.device("cuda", local_rank)
        torch.cuda.set_device(wanted)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if wanted.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timeout)
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, wanted, owns)


def shutdown(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_mean(ctx: DistContext, values: list[float]) -> list[float]:
    """Average a few numbers over the processes (for logging)."""
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device(ctx))
    dist.all_reduce(t)
    return (t / ctx.world_size).tolist()


def any_process(ctx: DistContext, flag: bool) -> bool:
    """True if ``flag`` is set in any process (all processes stop at the same step)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=_collective_device(ctx))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """``obj`` of the main process, in every process."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_collective_device(ctx))
    return box[0]


def wrap_model(ctx: DistContext, model: nn.Module) -> nn.Module:
    """``DistributedDataParallel(model)`` in a distributed run, else ``model``."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return (
        model.module
        if hasattr(model, "module") and isinstance(model.module, nn.Module)
        else model
    )


def no_sync(model: nn.Module, skip: bool) -> contextlib.AbstractContextManager:
    """DDP's ``no_sync`` (no gradient all-reduce) for all but the last accumulation micro-batch."""
    if skip and hasattr(model, "no_sync"):
        return model.no_sync()
    return contextlib.nullcontext()


def _pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for, but CUDA is not available")
    return d


def _collective_device(ctx: DistContext) -> torch.device:
    return ctx.device if ctx.device.type == "cuda" else torch.device("cpu")
