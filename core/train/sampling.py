"""Which triplet goes into which batch: a reproducible sample stream, sharded over processes.

The stream visits the training triplets epoch after epoch, each epoch in its own permutation drawn
from ``(seed, epoch)``. Optimizer step ``s`` consumes stream positions
``[s·A·B, (s+1)·A·B)`` for ``A`` accumulation micro-batches of the global batch ``B``; in a
distributed run, process ``r`` of ``W`` takes the ``r``-th of ``W`` equal slices of every
micro-batch. Everything (including each sample's augmentation, seeded by its stream position) is a
pure function of the step, so a resumed run — or the same run on another number of processes —
sees exactly the same samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch.utils.data

from ..errors import InputError

SampleKey = tuple[int, int]
"""``(triplet index, stream position)``: what a dataset needs to build one sample."""


@dataclass(frozen=True)
class SampleStream:
    """The sample order of a run (see the module docstring)."""

    n_items: int
    batch_size: int
    accumulation: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_items < 1:
            raise InputError("the training split is empty")

    @property
    def samples_per_step(self) -> int:
        return self.batch_size * self.accumulation

    def epoch_order(self, epoch: int) -> np.ndarray:
        return _permutation(self.n_items, self.seed, epoch)

    def key(self, position: int) -> SampleKey:
        epoch, offset = divmod(position, self.n_items)
        return int(self.epoch_order(epoch)[offset]), position

    def micro_batch(self, step: int, micro: int) -> list[SampleKey]:
        start = (step * self.accumulation + micro) * self.batch_size
        return [self.key(p) for p in range(start, start + self.batch_size)]

    def epoch_after(self, steps: int) -> float:
        """Epochs completed after ``steps`` optimizer steps (fractional)."""
        return steps * self.samples_per_step / self.n_items

    def epoch_ends_in_step(self, step: int) -> int | None:
        """The epoch whose last sample is consumed by optimizer step ``step`` (0-based), if any."""
        before = step * self.samples_per_step // self.n_items
        after = (step + 1) * self.samples_per_step // self.n_items
        return after - 1 if after > before else None


def local_slice(keys: list[SampleKey], rank: int, world_size: int) -> list[SampleKey]:
    """Process ``rank``'s share of a global micro-batch (the batch size must divide evenly)."""
    if len(keys) % world_size:
        raise InputError(
            f"the batch size {len(keys)} must be a multiple of the number of processes {world_size}"
        )
    per = len(keys) // world_size
    return keys[rank * per : (rank + 1) * per]


class MicroBatches(torch.utils.data.Sampler[list[SampleKey]]):
    """Batch sampler for a ``DataLoader``: this process's micro-batches for steps ``[start, stop)``."""

    def __init__(
        self, stream: SampleStream, start_step: int, stop_step: int, rank: int = 0, world_size: int = 1
    ):
        self.stream, self.start, self.stop = stream, start_step, stop_step
        self.rank, self.world_size = rank, world_size

    def __iter__(self) -> Iterator[list[SampleKey]]:
        for step in range(self.start, self.stop):
            for micro in range(self.stream.accumulation):
                yield local_slice(self.stream.micro_batch(step, micro), self.rank, self.world_size)

    def __len__(self) -> int:
        return max(0, self.stop - self.start) * self.stream.accumulation


@lru_cache(maxsize=8)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order.setflags(write=False)
    return order
